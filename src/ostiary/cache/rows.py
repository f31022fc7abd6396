"""A small bounded cache of rows by key, safe against the fill/invalidate race.

An entry lives at most ``ttl`` seconds. Every invalidation bumps a generation number; a
value read from the database is stored only if no invalidation happened while it was being
read, so a change that lands mid-read can never leave the old row behind. While the
invalidation channel is down (``usable`` false) nothing is served from memory.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ostiary.cache.bounded import BoundedCache

V = TypeVar("V")


def _monotonic() -> float:
    # Looked up on each call, so a test that replaces time.monotonic moves this clock too.
    return time.monotonic()


class RowCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.usable = True
        self.generation = 0
        # Least recently used first out.
        self._entries: BoundedCache[str, V] = BoundedCache(max_entries, ttl=ttl, clock=_monotonic)

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, key: str | None = None) -> None:
        """Forget one key, or everything (``None``)."""
        self.generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key)

    async def get(self, key: str, load: Callable[[str], Awaitable[V | None]]) -> V | None:
        """The cached value, or ``load(key)``; unknown keys (None) are never cached."""
        if self.ttl <= 0 or not self.usable:
            return await load(key)
        value = self._entries.get(key)
        if value is not None:
            return value
        # The entry's lifetime counts from before the read, as the row may be older by then.
        expires_at = _monotonic() + self.ttl
        generation = self.generation
        value = await load(key)
        if value is not None and generation == self.generation and self.usable:
            self._entries.put(key, value, expires_at=expires_at)
        return value
