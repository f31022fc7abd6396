"""Run Alembic migrations programmatically (``ostiary db upgrade`` and ``serve``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage import email_index

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
    if revision == "head":
        # Left out by migration 0010 while two accounts shared an address: created as
        # soon as they no longer do, in its own transaction (it never fails the upgrade).
        async with engine.begin() as connection:
            await connection.run_sync(email_index.ensure)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def applied_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The revisions the database's schema is at; empty when it was never migrated.
    Reads ``alembic_version`` only: creates nothing."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def _current(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())
