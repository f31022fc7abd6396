"""Databases the tests make for themselves, on SQLite or PostgreSQL, each dropped at the end.

Running every migration costs seconds on PostgreSQL, so each test process migrates one
template per backend, once, and a migrated database is a copy of it: ``CREATE DATABASE ...
TEMPLATE`` on PostgreSQL (nothing ever connects to the template after its migration, which
PostgreSQL requires of a template), a file copy on SQLite. The templates are dropped when
the process's test session ends (``drop_templates``, from the root conftest).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import upgrade

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_DSN = os.environ.get("OSTIARY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"


async def pg_admin(sql: str) -> None:
    """One statement on the PostgreSQL server's maintenance database."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def migrate(url: str, revision: str = "head") -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()


def new_name(prefix: str = "ostiary_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class _Templates:
    """This process's migrated templates: a SQLite file, a PostgreSQL database name."""

    directory: Path | None = None
    sqlite: Path | None = None
    postgresql: str | None = None


def _sqlite_template() -> Path:
    if _Templates.sqlite is None:
        _Templates.directory = Path(tempfile.mkdtemp(prefix="ostiary-template-"))
        path = _Templates.directory / "migrated.db"
        asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
        _Templates.sqlite = path
    return _Templates.sqlite


def _postgresql_template() -> str:
    if _Templates.postgresql is None:
        name = new_name("ostiary_template")
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
        _Templates.postgresql = name
        asyncio.run(migrate(f"{PG_SERVER}/{name}"))
    return _Templates.postgresql


def create(backend: str, directory: Path, *, migrated: bool = True) -> str:
    """A new database's URL: migrated to the head revision, or empty (for SQLite an empty
    file: only ``db upgrade`` creates a missing one). ``directory`` holds SQLite files.
    PostgreSQL out of reach fails the test, or skips it where OSTIARY_TEST_SKIP_POSTGRES=1
    says to on purpose (never under CI)."""
    name = new_name()
    if backend == "sqlite":
        path = directory / f"{name}.db"
        if migrated:
            shutil.copyfile(_sqlite_template(), path)
        else:
            path.touch()
        return f"sqlite+aiosqlite:///{path}"
    try:
        template = f' TEMPLATE "{_postgresql_template()}"' if migrated else ""
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"{template}'))
    except (OSError, asyncpg.PostgresError) as exc:
        # Skipping PostgreSQL is for a laptop without it, never for CI.
        if os.environ.get("OSTIARY_TEST_SKIP_POSTGRES") == "1" and not os.environ.get("CI"):
            pytest.skip(f"PostgreSQL skipped on purpose: {exc}")
        pytest.fail(f"PostgreSQL is required for the tests and unreachable: {exc}")
    return f"{PG_SERVER}/{name}"


def drop(url: str) -> None:
    """Drops a PostgreSQL database made by ``create`` (SQLite files go with their folder)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))


@contextmanager
def fresh_database(backend: str, directory: Path, *, migrated: bool = True) -> Iterator[str]:
    """``create``, then ``drop`` at the end of the block."""
    url = create(backend, directory, migrated=migrated)
    try:
        yield url
    finally:
        drop(url)


def drop_templates() -> None:
    if _Templates.postgresql is not None:
        name, _Templates.postgresql = _Templates.postgresql, None
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if _Templates.directory is not None:
        shutil.rmtree(_Templates.directory, ignore_errors=True)
        _Templates.directory = _Templates.sqlite = None


def backend_of(url: str) -> str:
    """ "sqlite" or "postgresql": the backend of a database URL."""
    return make_url(url).get_backend_name()
