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


async def sample_lag(observe: Observe, interval: float = LAG_INTERVAL) -> None:
    """Forever: sleep ``interval`` and ``observe`` how much later than asked the loop woke
    this task (seconds, never negative)."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, loop.time() - asked))


class GcPauses:
    """Times every collection of the cyclic garbage collector while installed."""

    def __init__(self, observe: ObserveGc) -> None:
        self._observe = observe
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._observe(info["generation"], time.perf_counter() - self._started)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
