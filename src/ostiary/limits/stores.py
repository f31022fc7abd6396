"""Shared stores of the request counts: Redis, and a per-process one for a single node.

The database store is a repository like any other (``storage.repos.rate_limits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ostiary import clock
from ostiary.domain.repositories import Store
from ostiary.limits.limiter import CounterStore, Delta
from ostiary.settings import RateLimitSettings, SettingsError

# Redis keeps a counter a little past its window, for a node whose clock runs behind.
REDIS_SLACK = 30


class MemoryCounters:
    """Counts of this process only (unit tests; one node without a database to share)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, int], tuple[int, int]] = {}

    async def add(self, deltas: Sequence[Delta]) -> dict[tuple[str, int], int]:
        now = clock.now()
        self._hits = {k: v for k, v in self._hits.items() if v[1] > now}
        totals = {}
        for key, start, hits, expires in deltas:
            total = self._hits.get((key, start), (0, expires))[0] + hits
            self._hits[key, start] = (total, expires)
            totals[key, start] = total
        return totals

    async def close(self) -> None:
        return None


class RedisCounters:
    """One pipeline per exchange: INCRBY and EXPIREAT per counter, no transaction."""

    def __init__(self, url: str, prefix: str) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError:  # pragma: no cover - depends on the installation
            raise SettingsError(
                "OSTIARY_RATE_LIMITS__BACKEND=redis needs the redis package: "
                "pip install 'ostiary[redis]'"
            ) from None
        self._redis: Any = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix

    async def add(self, deltas: Sequence[Delta]) -> dict[tuple[str, int], int]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, start, hits, expires in deltas:
                name = f"{self._prefix}{key}|{start}"
                pipe.incrby(name, hits)
                pipe.expireat(name, expires + REDIS_SLACK)
            results = await pipe.execute()
        return {(key, start): int(results[2 * i]) for i, (key, start, _, _) in enumerate(deltas)}

    async def close(self) -> None:
        await self._redis.aclose()


def counter_store(settings: RateLimitSettings, store: Store) -> CounterStore | None:
    """The store the settings name (None when the limits are off)."""
    if not settings.enabled:
        return None
    if settings.backend == "redis":
        assert settings.redis_url is not None  # the settings refuse redis without a URL
        return RedisCounters(settings.redis_url, settings.redis_prefix)
    return store.rate_limits
