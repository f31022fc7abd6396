"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ostiary.services import Services
from tests.conftest import open_services
from tests.databases import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet (for migrations run step by step); dropped after."""
    with fresh_database(request.param, tmp_path, migrated=False) as url:
        yield url


@pytest.fixture(scope="module")
async def services(database_url: str) -> AsyncIterator[Services]:
    """The server's services (no HTTP) over the run's database, one per module and backend.
    The database is shared with the rest of the run: tests add uniquely named rows."""
    async with open_services(database_url) as services:
        yield services
