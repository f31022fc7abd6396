"""Hot-path statements never open more connections than the pool keeps.

Beyond ``pool_size`` SQLAlchemy's QueuePool opens an overflow connection and closes it on
return; a burst of concurrent token requests would then pay a connect each. The driver
lets at most ``pool_size`` hot statements hold a connection; the rest wait their turn.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.engine import create_engine
from ostiary.storage.repos import _driver
from ostiary.storage.repos._driver import Driver

pytestmark = pytest.mark.anyio


def counting_connects(engine: AsyncEngine) -> list[int]:
    """A one-item list: how many connections the engine's pool opened so far."""
    connects = [0]

    def counted(*_args: object) -> None:
        connects[0] += 1

    event.listen(engine.sync_engine, "connect", counted)
    return connects


async def test_a_burst_of_hot_statements_reuses_the_pool(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=3)
    connects = counting_connects(engine)
    driver = Driver(engine)
    try:

        async def one(i: int) -> int:
            row = await driver.fetchrow("SELECT $1 + 1", i)
            assert row is not None
            return int(row[0])

        for _ in range(5):
            results = await asyncio.gather(*(one(i) for i in range(24)))
            assert results == [i + 1 for i in range(24)]
        assert connects[0] <= 3
    finally:
        await engine.dispose()


async def test_a_failed_statement_releases_its_turn(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    driver = Driver(engine)
    try:
        for _ in range(3):
            with pytest.raises(Exception):  # noqa: B017 (driver-specific error types)
                await driver.fetchrow("SELECT * FROM no_such_table")
        row = await asyncio.wait_for(driver.fetchrow("SELECT 41 + 1"), timeout=10)
        assert row is not None and row[0] == 42
    finally:
        await engine.dispose()


def test_pool_size_is_a_setting() -> None:
    from ostiary.settings import load_settings

    settings = load_settings(database_pool_size=7)
    assert settings.database_pool_size == 7


async def test_held_connections_are_reused_and_closed_on_dispose(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=4)
    connects = counting_connects(engine)
    driver = Driver(engine)
    for i in range(50):
        row = await driver.fetchrow("SELECT $1 + 1", i)
        assert row is not None and row[0] == i + 1
    assert connects[0] == 1  # one connection, kept checked out between statements
    held = _driver._held[engine.sync_engine][asyncio.get_running_loop()]
    kept = list(held.idle)
    assert len(kept) == 1
    await engine.dispose()
    assert held.disposed and not held.idle
    assert all(not raw.is_valid for raw in kept)
    assert engine.sync_engine not in _driver._held


async def test_statement_failure_discards_the_held_connection(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=2)
    driver = Driver(engine)
    try:
        await driver.fetchrow("SELECT 1")
        held = _driver._held[engine.sync_engine][asyncio.get_running_loop()]
        first = held.idle[0]
        with pytest.raises(Exception):  # noqa: B017 (driver-specific error types)
            await driver.fetchrow("SELECT * FROM no_such_table")
        assert not first.is_valid
        assert held.idle == []
        row = await driver.fetchrow("SELECT 2")
        assert row is not None and row[0] == 2
        assert held.idle and held.idle[0] is not first
    finally:
        await engine.dispose()
