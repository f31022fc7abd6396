"""A bounded in-memory map: least recently used (or oldest written) first out, entries
optionally expiring.

One event loop uses each instance, so there are no locks. Imports only the standard
library: the resource kit uses it without the server's dependencies.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

_NEVER = float("inf")


class BoundedCache(Generic[K, V]):
    """At most ``max_entries`` entries; beyond that the oldest one leaves.

    - ``lru=True``: reading an entry makes it the newest (least recently used goes
      first); ``lru=False``: entries leave in the order they were written.
    - ``ttl``: seconds an entry lives after ``put``; ``put(..., expires_at=t)`` gives one
      entry its own end instead. An entry is live while ``clock() < expires_at``; expired
      entries are never returned, and are dropped when read and when they reach the old
      end during a ``put``.
    - ``on_evict(key, value)``: called for each entry a ``put`` pushes out (by the bound
      or because it expired), not for ``pop``/``clear``.
    """

    __slots__ = ("_clock", "_entries", "_expiring", "_lru", "_on_evict", "max_entries", "ttl")

    def __init__(
        self,
        max_entries: int,
        *,
        ttl: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        lru: bool = True,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self.max_entries = max_entries
        self.ttl = ttl
        self._clock = clock
        self._lru = lru
        self._on_evict = on_evict
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        # False until an entry can expire: reads then skip the clock.
        self._expiring = ttl is not None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        entry = self._entries.get(key)  # type: ignore[call-overload]
        return entry is not None and not (self._expiring and entry[0] <= self._clock())

    def __iter__(self) -> Iterator[K]:
        """Keys, oldest first (expired ones included until something drops them)."""
        return iter(self._entries)

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The live value under ``key``, else ``default``; with ``lru``, now the newest."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        if self._expiring and entry[0] <= self._clock():
            del self._entries[key]
            return default
        if self._lru:
            self._entries.move_to_end(key)
        return entry[1]

    @overload
    def peek(self, key: K) -> V | None: ...
    @overload
    def peek(self, key: K, default: D) -> V | D: ...
    def peek(self, key: K, default: object = None) -> object:
        """As ``get``, leaving the order as it is."""
        entry = self._entries.get(key)
        if entry is None or (self._expiring and entry[0] <= self._clock()):
            return default
        return entry[1]

    def put(self, key: K, value: V, *, expires_at: float | None = None) -> None:
        """Store ``value`` as the newest entry, then drop what the bound and time push out."""
        if expires_at is None:
            expires_at = _NEVER if self.ttl is None else self._clock() + self.ttl
        else:
            self._expiring = True
        entries = self._entries
        entries[key] = (expires_at, value)
        entries.move_to_end(key)
        if self._expiring:
            self._drop_expired_oldest()
        while len(entries) > self.max_entries:
            self._evicted(*entries.popitem(last=False))

    def _drop_expired_oldest(self) -> None:
        """Expired entries at the old end; when entries are written in the order they
        expire (one lifetime for all), this is every expired entry, at O(1) per put."""
        entries = self._entries
        now = self._clock()
        while entries:
            key = next(iter(entries))
            entry = entries[key]
            if entry[0] > now:
                return
            del entries[key]
            self._evicted(key, entry)

    def _evicted(self, key: K, entry: tuple[float, V]) -> None:
        if self._on_evict is not None:
            self._on_evict(key, entry[1])

    @overload
    def pop(self, key: K) -> V | None: ...
    @overload
    def pop(self, key: K, default: D) -> V | D: ...
    def pop(self, key: K, default: object = None) -> object:
        """Remove ``key``; its value if it was live, else ``default``."""
        entry = self._entries.pop(key, None)
        if entry is None or (self._expiring and entry[0] <= self._clock()):
            return default
        return entry[1]

    def move_to_end(self, key: K) -> None:
        """Make ``key`` the newest entry (KeyError if absent)."""
        self._entries.move_to_end(key)

    def clear(self) -> None:
        self._entries.clear()

    def drop_expired(self) -> int:
        """Drop every expired entry, wherever it is (one pass); how many were dropped."""
        if not self._expiring:
            return 0
        now = self._clock()
        expired = [key for key, (until, _) in self._entries.items() if until <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)
