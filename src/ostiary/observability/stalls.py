"""What holds the event loop while requests wait: its lag and the garbage collector's pauses.

A request that is ready to run waits for whatever the loop is doing: a long callback, a
synchronous call that blocks, a full garbage collection of a large heap. None of these shows
in a request's own profile, only in the tail of everyone's latency. Two figures make them
visible to operators (``ostiary_event_loop_lag_seconds``, ``ostiary_gc_pause_seconds``):

- lag: a task asks to wake every ``interval`` seconds and records how late it woke. A late
  wake-up is time during which no other callback could run either.
- pauses: ``gc.callbacks`` is told when each collection starts and stops; the time between
  is a pause of every coroutine in the process, recorded by generation.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

Observe = Callable[[float], None]
ObserveGc = Callable[[int, float], None]

# Often enough to see a stall of a few milliseconds, rarely enough to cost nothing
# measurable: ten wake-ups a second.
LAG_INTERVAL = 0.1
# Pauses kept between two drains at most (a drain comes every LAG_INTERVAL; a young
# collection runs at most every few hundred allocations).
MAX_PENDING = 10_000


async def sample_lag(
    observe: Observe, interval: float = LAG_INTERVAL, then: Callable[[], None] | None = None
) -> None:
    """Forever: sleep ``interval`` and ``observe`` how much later than asked the loop woke
    this task (seconds, never negative); ``then`` runs after each wake-up."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - asked))
        if then is not None:
            then()


class GcPauses:
    """Times every collection of the cyclic garbage collector while installed.

    A collection can start inside any allocation, including one made while a metrics
    library holds its own lock (prometheus_client's multiprocess values do): recording
    there would wait for that lock forever. So the callback only appends to a list, and
    ``drain`` hands the pauses on from ordinary code."""

    def __init__(self, observe: ObserveGc) -> None:
        self._observe = observe
        self._started = 0.0
        self._pending: list[tuple[int, float]] = []

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif len(self._pending) < MAX_PENDING:
            self._pending.append((info["generation"], time.perf_counter() - self._started))

    def drain(self) -> None:
        """Record the pauses seen since the last drain."""
        # Swapped, not cleared: a collection during the loop appends to the new list.
        pending, self._pending = self._pending, []
        for generation, seconds in pending:
            self._observe(generation, seconds)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
