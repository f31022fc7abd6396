"""Open the services for one command, run it, close them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url

from ostiary.cli.failures import DatabaseFailure, explain
from ostiary.cli.output import CommandError
from ostiary.crypto.sealing import UnsealError
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade

T = TypeVar("T")


def run_with_services(action: Callable[[Services], Awaitable[T]], *, create: bool = False) -> T:
    """Migrate the database and run ``action``. Only ``create`` commands (``db upgrade``,
    ``serve``, the development seed) may bring a new SQLite file into being: for any other,
    a mistyped path is an error rather than an empty database."""
    settings = load_settings()
    if not create:
        refuse_missing_database(settings.database_url)

    async def main() -> T:
        services = build_services(settings)
        try:
            await upgrade(services.engine)
            return await action(services)
        finally:
            await services.close()

    return run_on_database(main(), settings.database_url)


def run_on_database(work: Awaitable[T], database_url: str) -> T:
    """``asyncio.run(work)``, with a failure to reach the database said in one line."""

    async def main() -> T:
        return await work

    try:
        return asyncio.run(main())
    except CommandError:
        raise
    except UnsealError as exc:
        raise CommandError(
            "cannot decrypt the signing keys or provider secrets in the database: "
            "OSTIARY_SECRET_KEY is not the key they were sealed with (restore that key)"
        ) from exc
    except Exception as exc:
        reason = explain(exc, database_url)
        if reason is None:
            raise
        raise DatabaseFailure(reason) from exc


def refuse_missing_database(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    if url.query.get("mode") == "memory":
        return
    path = Path(url.database)
    if not path.exists():
        raise CommandError(
            f"no SQLite database at {path}: run `ostiary db upgrade` to create it, or check "
            "OSTIARY_DATABASE_URL"
        )
