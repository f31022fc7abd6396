"""What holds the event loop: its lag and the garbage collector's pauses, as measured and
exported, and the collector set aside after start-up."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import pytest

from ostiary.observability import stalls
from ostiary.observability.metrics import Metrics
from ostiary.services import build_services
from ostiary.settings import load_settings
from ostiary.storage.memory import MemoryStore
from ostiary.web.app import create_app

SECRET = "unit-test-secret-key-" + "x" * 32


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """gc.freeze is process-wide: every test here starts and ends with nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.anyio
async def test_a_blocked_loop_shows_as_lag() -> None:
    seen: list[float] = []
    sampler = asyncio.create_task(stalls.sample_lag(seen.append, interval=0.01))
    await asyncio.sleep(0.03)
    time.sleep(0.08)  # noqa: ASYNC251 - the blocking call whose stall is measured
    await asyncio.sleep(0.03)
    sampler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sampler

    assert all(lag >= 0 for lag in seen)
    assert max(seen) >= 0.06
    assert min(seen) < 0.06  # the wake-ups around it were on time


def test_collections_are_timed_by_generation_while_installed() -> None:
    pauses: list[tuple[int, float]] = []
    watcher = stalls.GcPauses(lambda generation, seconds: pauses.append((generation, seconds)))
    watcher.install()
    watcher.install()  # once only
    try:
        gc.collect(2)
        # Recorded only when drained, outside the collection (a metrics lock may be held
        # where a collection starts).
        assert pauses == []
        watcher.drain()
    finally:
        watcher.remove()
    gc.collect(2)
    watcher.drain()

    assert [g for g, _ in pauses] == [2]
    assert pauses[0][1] >= 0


@pytest.mark.anyio
async def test_pauses_reach_the_metric_from_the_sampler_not_from_the_collection() -> None:
    """prometheus_client's multiprocess values hold a lock while they create a series, and
    a collection may start inside that: the callback itself must never observe."""
    observed: list[tuple[int, float]] = []
    watcher = stalls.GcPauses(lambda generation, seconds: observed.append((generation, seconds)))
    watcher.install()
    sampler = asyncio.create_task(
        stalls.sample_lag(lambda _lag: None, interval=0.01, then=watcher.drain)
    )
    try:
        gc.collect(1)
        assert observed == []
        await asyncio.sleep(0.05)
    finally:
        sampler.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sampler
        watcher.remove()

    assert 1 in [g for g, _ in observed]


def test_metrics_export_lag_and_gc_pauses() -> None:
    metrics = Metrics(lambda: None)
    metrics.loop_lag.observe(0.003)
    metrics.gc_pause(2, 0.04)
    metrics.gc_pause(0, 0.0002)
    assert metrics.registry is not None

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)  # type: ignore[union-attr]

    assert sample("ostiary_event_loop_lag_seconds_count") == 1
    assert sample("ostiary_event_loop_lag_seconds_bucket", le="0.005") == 1
    assert sample("ostiary_gc_pause_seconds_count", generation="2") == 1
    assert sample("ostiary_gc_pause_seconds_bucket", generation="2", le="0.025") == 0
    assert sample("ostiary_gc_pause_seconds_bucket", generation="2", le="0.05") == 1
    assert sample("ostiary_gc_pause_seconds_count", generation="0") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("freeze", [True, False])
async def test_start_up_sets_its_objects_aside_from_the_collector(
    unfrozen: None, freeze: bool
) -> None:
    """A full collection walks what start-up made again and again and frees none of it;
    frozen, it walks only what requests made since."""
    settings = load_settings(issuer="http://127.0.0.1:9", secret_key=SECRET, gc={"freeze": freeze})
    services = build_services(settings, store=MemoryStore())
    app = create_app(settings, services)
    try:
        async with app.router.lifespan_context(app):
            assert (gc.get_freeze_count() > 0) is freeze
    finally:
        await services.close()
