"""Failed-attempt counters and request counts in memory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ostiary import clock
from ostiary.domain.throttles import ThrottleState
from ostiary.storage.memory.tables import Tables, ThrottleRecord


def state_of(tables: Tables, keys: Iterable[str]) -> ThrottleState:
    """Which of ``keys`` have a record, and the latest lock end among them (0: none)."""
    records = {k: tables.throttles[k] for k in keys if k in tables.throttles}
    return ThrottleState(
        max((r.locked_until for r in records.values()), default=0), frozenset(records)
    )


class MemoryThrottles:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def state(self, keys: Iterable[str]) -> ThrottleState:
        return state_of(self._t, keys)

    async def locked_until(self, keys: Iterable[str]) -> int:
        return state_of(self._t, keys).locked_until

    async def fail(self, key: str, *, window: int) -> int:
        now = clock.now()
        record = self._t.throttles.get(key)
        if record is None:
            record = self._t.throttles[key] = ThrottleRecord(0, now, 0)
        # A failure older than the window starts the count over.
        record.failures = 1 if record.last_failure_at < now - window else record.failures + 1
        record.last_failure_at = now
        return record.failures

    async def lock(self, key: str, until: int) -> None:
        record = self._t.throttles.get(key)
        if record is not None:
            record.locked_until = until

    async def clear(self, keys: Iterable[str]) -> int:
        return sum(self._t.throttles.pop(k, None) is not None for k in set(keys))

    async def clear_prefix(self, prefix: str) -> int:
        return await self.clear([k for k in self._t.throttles if k.startswith(prefix)])

    async def purge_idle(self, seconds: int) -> int:
        now = clock.now()
        idle = [
            k
            for k, r in self._t.throttles.items()
            if r.last_failure_at < now - seconds and r.locked_until < now
        ]
        return await self.clear(idle)


class MemoryRateLimits:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, deltas: Sequence[tuple[str, int, int, int]]) -> dict[tuple[str, int], int]:
        counters = self._t.rate_limits
        for key, start, hits, expires_at in sorted(deltas):
            # A counter keeps the expiry it was created with; only its hits grow.
            before, expires = counters.get((key, start), (0, expires_at))
            counters[key, start] = (before + hits, expires)
        return {(key, start): counters[key, start][0] for key, start, _, _ in deltas}

    async def close(self) -> None:
        return None

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop("rate_limits", lambda counter: counter[1] < now)
