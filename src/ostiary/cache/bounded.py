"""A bounded in-memory map: least recently used (or oldest written) first out, entries
optionally expiring.

One event loop uses each instance, so there are no locks. Imports only the standard
library: the resource kit uses it without the server's dependencies.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

_NEVER = float("inf")
_ABSENT: Any = object()


class BoundedCache(Generic[K, V]):
    """At most ``max_entries`` entries; beyond that the oldest one leaves.

    - ``lru=True``: reading an entry makes it the newest (least recently used goes
      first); ``lru=False``: entries leave in the order they were written.
    - Expiry, when constructed with ``ttl`` (seconds an entry lives after ``put``) or
      ``expiring=True`` (each ``put`` gives its entry's end, ``expires_at``, on ``clock``'s
      scale): an entry is live while ``clock() < expires_at``; expired entries are never
      returned, and are dropped when read and when they reach the old end during a ``put``.
    - ``on_evict(key, value)``: called for each entry a ``put`` pushes out (by the bound
      or because it expired), not for ``pop``/``drop``/``shrink``/``clear``.

    Write-order caches without expiry read at the speed of a dict: their ``get`` and
    ``peek`` are the underlying dict's own ``get``.
    """

    def __init__(
        self,
        max_entries: int,
        *,
        ttl: float | None = None,
        expiring: bool = False,
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
        self._values: OrderedDict[K, V] = OrderedDict()
        # Each entry's end, for caches whose entries expire (None: none ever does).
        self._ends: dict[K, float] | None = {} if ttl is not None or expiring else None
        if not lru and self._ends is None:
            # Nothing to do on a read but the lookup itself: hot paths (the resource kit's
            # header and verified-token caches, the request log) pay no method call.
            # The dict's get has the same overloads; mypy cannot match them up, hence assignment.
            self.get = self.peek = self._values.get  # type: ignore[method-assign,assignment]

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        if key not in self._values:
            return False
        return self._ends is None or self._ends[key] > self._clock()  # type: ignore[index]

    def __iter__(self) -> Iterator[K]:
        """Keys, oldest first (expired ones included until something drops them)."""
        return iter(self._values)

    def _expired(self, key: K) -> bool:
        return self._ends is not None and self._ends[key] <= self._clock()

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The live value under ``key``, else ``default``; with ``lru``, now the newest."""
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT:
            return default
        ends = self._ends
        if ends is not None and ends[key] <= self._clock():
            self._remove(key)
            return default
        if self._lru:
            self._values.move_to_end(key)
        return value

    @overload
    def peek(self, key: K) -> V | None: ...
    @overload
    def peek(self, key: K, default: D) -> V | D: ...
    def peek(self, key: K, default: object = None) -> object:
        """As ``get``, leaving the order (and expired entries) as they are."""
        value = self._values.get(key, _ABSENT)
        if value is _ABSENT or self._expired(key):
            return default
        return value

    def put(self, key: K, value: V, *, expires_at: float | None = None) -> None:
        """Store ``value`` as the newest entry, then drop what the bound and time push out."""
        values = self._values
        values[key] = value
        values.move_to_end(key)
        ends = self._ends
        if ends is not None:
            if expires_at is None:
                expires_at = _NEVER if self.ttl is None else self._clock() + self.ttl
            ends[key] = expires_at
            self._drop_expired_oldest(ends)
        elif expires_at is not None:
            raise ValueError("this cache has no expiry: construct it with ttl or expiring")
        while len(values) > self.max_entries:
            self._evicted(*values.popitem(last=False))

    def _drop_expired_oldest(self, ends: dict[K, float]) -> None:
        """Expired entries at the old end; when entries are written in the order they
        expire (one lifetime for all), this is every expired entry, at O(1) per put."""
        values = self._values
        now = self._clock()
        while values:
            key = next(iter(values))
            if ends[key] > now:
                return
            self._evicted(key, values.pop(key))

    def _evicted(self, key: K, value: V) -> None:
        if self._ends is not None:
            del self._ends[key]
        if self._on_evict is not None:
            self._on_evict(key, value)

    def _remove(self, key: K) -> V:
        if self._ends is not None:
            del self._ends[key]
        return self._values.pop(key)

    @overload
    def pop(self, key: K) -> V | None: ...
    @overload
    def pop(self, key: K, default: D) -> V | D: ...
    def pop(self, key: K, default: object = None) -> object:
        """Remove ``key``; its value if it was live, else ``default``."""
        if key not in self._values:
            return default
        expired = self._expired(key)
        value = self._remove(key)
        return default if expired else value

    def move_to_end(self, key: K) -> None:
        """Make ``key`` the newest entry (KeyError if absent)."""
        self._values.move_to_end(key)

    def clear(self) -> None:
        self._values.clear()
        if self._ends is not None:
            self._ends.clear()

    def drop(self, unwanted: Callable[[K, V], bool]) -> int:
        """Drop every entry for which ``unwanted(key, value)`` holds (one pass); how many."""
        gone = [key for key, value in self._values.items() if unwanted(key, value)]
        for key in gone:
            self._remove(key)
        return len(gone)

    def drop_expired(self) -> int:
        """Drop every expired entry, wherever it is (one pass); how many were dropped."""
        ends = self._ends
        if ends is None:
            return 0
        now = self._clock()
        return self.drop(lambda key, _: ends[key] <= now)

    def shrink(self, size: int) -> None:
        """Drop the oldest entries until at most ``size`` are left."""
        while len(self._values) > size:
            self._remove(next(iter(self._values)))
