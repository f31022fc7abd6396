"""Failed-attempt counters shared by every node (brute-force protection).

The login form and client authentication consult and clear these on every attempt, so
every statement but the idle purge runs on the driver connection (speed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete

from ostiary import clock
from ostiary.domain.throttles import ThrottleState
from ostiary.storage.repos._base import Repository
from ostiary.storage.repos._driver import json_text
from ostiary.storage.tables import throttles

# Keys travel as one JSON array parameter, so each statement has one text per dialect.
_KEYS = {
    True: "SELECT json_array_elements_text($1::json)",
    False: "SELECT value FROM json_each($1)",
}
_STATE = {
    pg: f"SELECT key, locked_until FROM throttles WHERE key IN ({keys})"  # noqa: S608
    for pg, keys in _KEYS.items()
}
_CLEAR = {
    pg: f"DELETE FROM throttles WHERE key IN ({keys}) RETURNING 1"  # noqa: S608
    for pg, keys in _KEYS.items()
}
# A stale record ($4: the window's start) starts over; atomic across nodes.
_FAIL = """
INSERT INTO throttles (key, failures, last_failure_at, locked_until) VALUES ($1, 1, $2, 0)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN throttles.last_failure_at < $3 THEN 1 ELSE throttles.failures + 1 END,
    last_failure_at = $2
RETURNING failures
"""
_LOCK = "UPDATE throttles SET locked_until = $2 WHERE key = $1"
# substr, not LIKE: a client id may hold "_", which LIKE reads as a wildcard.
_CLEAR_PREFIX = "DELETE FROM throttles WHERE substr(key, 1, $2) = $1 RETURNING 1"


def throttle_state(rows: Iterable[Sequence[Any]]) -> ThrottleState:
    """From the (key, locked_until) records of the keys asked about."""
    records = [(str(key), int(until)) for key, until in rows]
    return ThrottleState(
        max((until for _, until in records), default=0), frozenset(k for k, _ in records)
    )


class ThrottleRepository(Repository):
    async def state(self, keys: Iterable[str]) -> ThrottleState:
        """Which of these keys have a record, and the latest lock end among them."""
        wanted = list(keys)
        if not wanted:
            return ThrottleState(0, frozenset())
        rows = await self._driver.fetch(_STATE[self._driver.postgresql], json_text(wanted))
        return throttle_state(rows)

    async def locked_until(self, keys: Iterable[str]) -> int:
        """The latest lock end among these keys (0 when none is locked)."""
        return (await self.state(keys)).locked_until

    async def fail(self, key: str, *, window: int) -> int:
        """Count one failure (a fresh count when the last one is older than ``window``);
        returns the number of failures now on record. Atomic across nodes."""
        now = clock.now()
        row = await self._driver.fetchrow(_FAIL, key, now, now - window)
        assert row is not None
        return int(row[0])

    async def lock(self, key: str, until: int) -> None:
        await self._driver.fetch(_LOCK, key, until)

    async def clear(self, keys: Iterable[str]) -> int:
        wanted = list(keys)
        if not wanted:
            return 0
        return len(await self._driver.fetch(_CLEAR[self._driver.postgresql], json_text(wanted)))

    async def clear_prefix(self, prefix: str) -> int:
        """Delete every record whose key starts with ``prefix`` (rare: an admin's unlock)."""
        rows = await self._driver.fetch(_CLEAR_PREFIX, prefix, len(prefix))
        return len(rows)

    async def purge_idle(self, seconds: int) -> int:
        now = clock.now()
        return await self._write(
            delete(throttles).where(
                throttles.c.last_failure_at < now - seconds, throttles.c.locked_until < now
            )
        )
