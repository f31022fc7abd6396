"""The migrations build exactly the schema that ``storage/tables.py`` declares.

Several features add tables and columns; a column added to ``tables.py`` and forgotten
in its migration (or the reverse) would pass every test on a schema built one way and
break the first operator who upgrades. Alembic's own comparison finds both.
"""

import asyncio
import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import alembic_config, downgrade, upgrade
from ostiary.storage.tables import metadata


def _schema_differences(database_url: str) -> list[Any]:
    async def go() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(
                            sync, opts={"compare_type": True, "compare_server_default": False}
                        ),
                        metadata,
                    )
                )
        finally:
            await engine.dispose()

    with warnings.catch_warnings():
        # SQLAlchemy cannot reflect an expression index on SQLite (users' lower(email)):
        # it says so and leaves it out on both sides. PostgreSQL compares it; the index's
        # own tests (test_email_uniqueness_migration) check it exists on SQLite.
        for message in (
            "Skipped unsupported reflection of expression-based index",
            "autogenerate skipping metadata-specified expression-based index",
        ):
            warnings.filterwarnings("ignore", message=message)
        return asyncio.run(go())


def _significant(diff: Any) -> bool:
    # SQLite reports JSON as its own affinity and BigInteger as INTEGER; those type
    # "changes" are reflections of the backend, not schema drift.
    if isinstance(diff, list):
        return any(_significant(item) for item in diff)
    return not (isinstance(diff, tuple) and diff and diff[0] == "modify_type")


def test_migrated_schema_matches_tables(database_url: str) -> None:
    differences = [d for d in _schema_differences(database_url) if _significant(d)]
    assert differences == []


def test_revisions_form_one_line() -> None:
    """One head, one base: two features never branch the history."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_downgrade_to_base_and_upgrade_again(tmp_path: Any) -> None:
    """Every migration's downgrade runs, and the schema comes back whole."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"

    async def go() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            await downgrade(engine, "base")
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())
    assert [d for d in _schema_differences(url) if _significant(d)] == []
