"""Fixed-window request counts per (endpoint group, source address), added up across nodes.

Deciding never waits for the shared store: each node counts its own requests in memory
and, every ``sync_interval`` seconds, sends what it counted since the last exchange (one
batch) and reads back the totals of all nodes. A request is refused when the last total
read plus this node's requests since then reach the limit. Between two exchanges the
nodes together may let a few more through than the limit (what arrived at the others
meanwhile); after an exchange every node refuses. Counters near their limit are read back
even when this node saw no new request, so a node that has not been hit lately learns in
time that another node took the address over the limit.

A fixed window admits up to twice the limit across a window boundary; for a flood guard
that is fine, and it keeps one row (or Redis key) per address and window.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ostiary import clock
from ostiary.cache.bounded import BoundedCache
from ostiary.limits.groups import GROUPS
from ostiary.settings import RateLimit, RateLimitSettings
from ostiary.storage.errors import describe

log = logging.getLogger("ostiary.limits")

# An exchange taking longer is given up (its counts are sent again with the next one): a
# store that hangs must not hold back every later exchange, or the shutdown.
EXCHANGE_TIMEOUT = 5.0
# Counters per statement of an exchange. Preparing a statement and reading its totals back
# costs the event loop 3-4 µs per counter (bench/stall_sources.py), so a slice holds
# requests back 2-4 ms where 5,000 addresses in one statement held them 14-20 ms.
EXCHANGE_SLICE = 500

# (key, window_start, hits to add, expires_at): one counter's share of an exchange.
Delta = tuple[str, int, int, int]


class CounterStore(Protocol):
    async def add(self, deltas: Sequence[Delta]) -> dict[tuple[str, int], int]:
        """Add each delta to its counter (created at 0); the totals after, by key and window."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Counter:
    group: str
    window_start: int
    # The total of every node at the last exchange, plus this node's requests of an
    # exchange still under way.
    known: int = 0
    # This node's requests not sent yet.
    pending: int = 0
    # Logged as tripped already (one line per address and window).
    tripped: bool = False


def source_of(address: str | None) -> str:
    """The address requests are counted against: an IPv6 client by its /64, as one
    subscriber usually holds a whole /64 and could otherwise take a fresh address per
    request."""
    if not address:
        return "unknown"
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address[:64]
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, store: CounterStore | None) -> None:
        limits: dict[str, RateLimit] = {g: getattr(settings, g) for g in GROUPS}
        self._limits = {g: lim for g, lim in limits.items() if lim.requests > 0}
        self.enabled = settings.enabled and bool(self._limits)
        self._store = store
        self._interval = settings.sync_interval
        # Counters with requests not sent, and counters near their limit (read back each
        # exchange even without new requests here).
        self._dirty: set[str] = set()
        self._hot: set[str] = set()
        # The addresses seen last; one pushed out by the bound takes its unsent counts along.
        self._counters: BoundedCache[str, _Counter] = BoundedCache(
            settings.max_addresses, on_evict=self._forget
        )
        self._refused: Counter[str] = Counter()
        self._store_failing = False

    def hit(self, group: str, address: str | None) -> int:
        """Count one request; 0 when it may go ahead, else the seconds until the window
        ends (``Retry-After``). Refused requests are not counted."""
        limit = self._limits.get(group) if self.enabled else None
        if limit is None:
            return 0
        now = clock.now()
        start = now - now % limit.window
        source = source_of(address)
        key = f"{group}|{source}"
        counter = self._counters.get(key)
        if counter is None or counter.window_start != start:
            counter = _Counter(group, start)
            self._counters.put(key, counter)
        if counter.known + counter.pending >= limit.requests:
            self._refused[group] += 1
            if not counter.tripped:
                counter.tripped = True
                log.warning(
                    "rate limit: %s from %s over %d requests per %d s; refusing until the "
                    "window ends",
                    group,
                    source,
                    limit.requests,
                    limit.window,
                )
            return max(1, start + limit.window - now)
        counter.pending += 1
        self._dirty.add(key)
        return 0

    def _forget(self, key: str, _: _Counter) -> None:
        self._dirty.discard(key)
        self._hot.discard(key)

    def refusals(self) -> dict[str, int]:
        """Requests refused so far by this process, per endpoint group (for metrics)."""
        return {group: self._refused[group] for group in GROUPS}

    async def sync(self) -> None:
        """One exchange with the shared store: send new counts, read totals back.

        The counters go in slices of ``EXCHANGE_SLICE`` (one statement each, in key order),
        so preparing a statement and reading its totals back holds the event loop a few
        milliseconds at a time, however many addresses were seen since the last exchange.
        """
        if self._store is None or not (self._dirty or self._hot):
            return
        keys = sorted(self._dirty | self._hot)
        hot = self._hot
        self._dirty = set()
        self._hot = set()
        for at in range(0, len(keys), EXCHANGE_SLICE):
            if not await self._exchange(self._store, keys[at : at + EXCHANGE_SLICE]):
                # The store is failing: what was not sent waits for the next exchange.
                rest = keys[at + EXCHANGE_SLICE :]
                self._dirty.update(k for k in rest if k in self._counters)
                self._hot.update(k for k in rest if k in hot)
                return

    async def _exchange(self, store: CounterStore, keys: Sequence[str]) -> bool:
        """Send these counters' new requests and read their totals back (False: the store
        failed, and their counts wait for the next exchange)."""
        now = clock.now()
        deltas: list[Delta] = []
        sent: dict[str, int] = {}
        for key in keys:
            counter = self._counters.peek(key)
            limit = self._limits.get(counter.group) if counter else None
            if counter is None or limit is None or now >= counter.window_start + limit.window:
                continue  # gone from memory, or its window is over: nothing left to decide
            deltas.append(
                (key, counter.window_start, counter.pending, counter.window_start + limit.window)
            )
            sent[key] = counter.pending
            # Counted as known while the exchange is under way, so requests arriving
            # meanwhile see them (they are in neither the old total nor ``pending``).
            counter.known += counter.pending
            counter.pending = 0
        if not deltas:
            return True
        try:
            async with asyncio.timeout(EXCHANGE_TIMEOUT):
                totals = await store.add(deltas)
        except Exception as exc:
            # Decide on local counts meanwhile; the unsent requests go in the next exchange.
            # One line per outage, with what failed but no message text (a database error's
            # text may quote values).
            if not self._store_failing:
                log.warning(
                    "rate limit: exchanging counts with the shared store failed (%s); "
                    "deciding on this node's counts until it answers",
                    "timeout" if isinstance(exc, TimeoutError) else describe(exc),
                )
            self._store_failing = True
            for key, start, _, _ in deltas:
                counter = self._counters.peek(key)
                if counter is not None and counter.window_start == start:
                    counter.known -= sent[key]
                    counter.pending += sent[key]
                    self._dirty.add(key)
            return False
        if self._store_failing:
            log.info("rate limit: the shared store answers again")
            self._store_failing = False
        for key, start, _, _ in deltas:
            counter = self._counters.peek(key)
            total = totals.get((key, start))
            if counter is None or total is None or counter.window_start != start:
                continue
            counter.known = max(counter.known, total)
            requests = self._limits[counter.group].requests
            if counter.known * 2 >= requests and counter.known < requests:
                self._hot.add(key)
        return True

    async def run(self) -> None:
        """Exchange counts every ``sync_interval`` seconds, until cancelled."""
        if not self.enabled or self._store is None:
            return
        while True:
            await asyncio.sleep(self._interval)
            await self.sync()

    async def close(self) -> None:
        if self._store is None:
            return
        try:
            await self.sync()
        finally:
            await self._store.close()
