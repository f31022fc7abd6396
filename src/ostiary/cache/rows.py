"""A small bounded cache of rows by key, safe against the fill/invalidate race.

An entry lives at most ``ttl`` seconds. Every invalidation bumps a generation number; a
value read from the database is stored only if no invalidation happened while it was being
read, so a change that lands mid-read can never leave the old row behind. While the
invalidation channel is down (``usable`` false) nothing is served from memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class RowCache(Generic[V]):
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.usable = True
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, key: str | None = None) -> None:
        """Forget one key, or everything (``None``)."""
        self.generation += 1
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    async def get(self, key: str, load: Callable[[str], Awaitable[V | None]]) -> V | None:
        """The cached value, or ``load(key)``; unknown keys (None) are never cached."""
        if self.ttl <= 0 or not self.usable:
            return await load(key)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > now:
                self._entries.move_to_end(key)
                return entry[1]
            del self._entries[key]
        generation = self.generation
        value = await load(key)
        if value is not None and generation == self.generation and self.usable:
            self._entries[key] = (now + self.ttl, value)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value
