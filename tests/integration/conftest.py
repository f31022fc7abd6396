"""Fixtures of the integration tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ostiary.services import Services
from tests.conftest import _pg_admin, open_services


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet (for migrations run step by step); dropped after."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        return
    name = f"ostiary_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
async def services(database_url: str) -> AsyncIterator[Services]:
    """The server's services (no HTTP) over the run's database, one per module and backend.
    The database is shared with the rest of the run: tests add uniquely named rows."""
    async with open_services(database_url) as services:
        yield services
