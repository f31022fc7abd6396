"""The shared stores of the rate limits: the database (SQLite, PostgreSQL) and Redis.

Every store adds deltas atomically and returns the totals after, so nodes that exchange
with it concurrently add up exactly; expired counters go (the purge, or Redis's expiry).
Redis keys carry a prefix of this run's own, deleted at the end (never a whole flush).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from ostiary import clock
from ostiary.limits.limiter import CounterStore, RateLimiter
from ostiary.limits.stores import RedisCounters
from ostiary.settings import RateLimitSettings
from ostiary.storage.engine import create_engine
from ostiary.storage.repos.rate_limits import RateLimitRepository
from ostiary.storage.tables import rate_limit_counters

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"ostiary-test:{secrets.token_hex(6)}:"
    yield prefix

    async def clean() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            names = [name async for name in client.scan_iter(match=f"{prefix}*")]
            if names:
                await client.delete(*names)
        finally:
            await client.aclose()

    asyncio.run(clean())


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _key() -> str:
    return f"login|192.0.2.{secrets.randbelow(250)}-{secrets.token_hex(4)}"


async def _stores(backend: str, database_url: str, prefix: str) -> AsyncIterator[CounterStore]:
    if backend == "redis":
        store: Any = RedisCounters(REDIS_URL, prefix)
        try:
            yield store
        finally:
            await store.close()
        return
    engine = create_engine(database_url)
    try:
        yield RateLimitRepository(engine)
    finally:
        await engine.dispose()


def test_deltas_add_up_and_totals_come_back(
    backend: str, database_url: str, redis_prefix: str
) -> None:
    async def run() -> None:
        async for store in _stores(backend, database_url, redis_prefix):
            now = clock.now()
            start = now - now % 60
            a, b = _key(), _key()
            assert await store.add([]) == {}
            first = await store.add([(a, start, 3, start + 60), (b, start, 1, start + 60)])
            assert first == {(a, start): 3, (b, start): 1}
            second = await store.add([(a, start, 2, start + 60), (b, start, 0, start + 60)])
            assert second == {(a, start): 5, (b, start): 1}
            # The next window is a counter of its own.
            later = await store.add([(a, start + 60, 1, start + 120)])
            assert later == {(a, start + 60): 1}

    asyncio.run(run())


def test_concurrent_exchanges_are_each_counted_once(
    backend: str, database_url: str, redis_prefix: str
) -> None:
    """Forty exchanges at once over the same counters (in different orders: the store
    sorts, so PostgreSQL never deadlocks) add up exactly."""

    async def run() -> None:
        async for store in _stores(backend, database_url, redis_prefix):
            now = clock.now()
            start = now - now % 60
            keys = sorted(_key() for _ in range(5))
            batches = [
                [(k, start, 1, start + 60) for k in (keys if i % 2 else reversed(keys))]
                for i in range(40)
            ]
            await asyncio.gather(*(store.add(batch) for batch in batches))
            totals = await store.add([(k, start, 0, start + 60) for k in keys])
            assert totals == {(k, start): 40 for k in keys}

    asyncio.run(run())


def test_two_limiters_share_one_count(backend: str, database_url: str, redis_prefix: str) -> None:
    """Two nodes on one store: after an exchange each refuses what the two together made
    over the limit."""

    async def run() -> None:
        async for store in _stores(backend, database_url, redis_prefix):
            settings = RateLimitSettings(login={"requests": 10})
            a, b = RateLimiter(settings, store), RateLimiter(settings, store)
            address = f"198.51.100.{secrets.randbelow(250)}"
            # A unique address per run (the database is shared by the whole test run).
            address += f"-{secrets.token_hex(3)}"
            assert all(a.hit("login", address) == 0 for _ in range(6))
            await a.sync()
            assert all(b.hit("login", address) == 0 for _ in range(5))
            await b.sync()
            await a.sync()
            assert a.hit("login", address) > 0
            assert b.hit("login", address) > 0

    asyncio.run(run())


def test_expired_counters_are_purged(database_url: str) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        repo = RateLimitRepository(engine)
        try:
            now = clock.now()
            old, live = _key(), _key()
            await repo.add([(old, now - 120, 4, now - 60), (live, now - 30, 1, now + 30)])
            assert await repo.purge_expired() >= 1
            async with engine.connect() as conn:
                left = set((await conn.execute(select(rate_limit_counters.c.key))).scalars().all())
            assert old not in left
            assert live in left
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_redis_counters_expire_with_their_window(redis_prefix: str) -> None:
    async def run() -> None:
        store = RedisCounters(REDIS_URL, redis_prefix)
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            now = clock.now()
            start = now - now % 60
            key = _key()
            await store.add([(key, start, 1, start + 60)])
            ttl = await client.ttl(f"{redis_prefix}{key}|{start}")
            assert 0 < ttl <= 60 + 30
        finally:
            await client.aclose()
            await store.close()

    asyncio.run(run())
