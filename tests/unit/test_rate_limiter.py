"""The per-address rate limiter's decisions (ostiary.limits), without I/O.

The shared store here is ``MemoryCounters``; tests/integration/test_rate_limit_stores.py runs
the same exchange against PostgreSQL, SQLite and Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary import clock
from ostiary.limits import GROUPS, group_of, source_of
from ostiary.limits import limiter as limiter_module
from ostiary.limits.limiter import Delta, RateLimiter
from ostiary.limits.stores import MemoryCounters
from ostiary.settings import RateLimitSettings

T0 = 1_800_000_000  # a window boundary for windows of 60 and 600 seconds


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The clock the limiter reads; tests move it by setting ``now[0]``."""
    moment = [T0]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    return moment


def limiter(store: Any = None, **limits: Any) -> RateLimiter:
    values: dict[str, Any] = {"max_addresses": 100, **limits}
    return RateLimiter(RateLimitSettings(**values), store)


@pytest.mark.parametrize(
    ("method", "path", "group"),
    [
        ("GET", "/authorize", "authorize"),
        ("POST", "/authorize", "authorize"),
        ("HEAD", "/authorize", "authorize"),
        ("PUT", "/authorize", None),
        ("POST", "/interaction/abc/login", "login"),
        ("POST", "/interaction/abc/consent", "consent"),
        ("POST", "/interaction/abc/abort", None),
        ("GET", "/interaction/abc/login", None),
        ("POST", "/interaction//login", None),
        ("POST", "/interaction/abc/login/x", None),
        ("POST", "/interaction/abc/mfa", "login"),
        ("POST", "/interaction/abc/mfa/enrol", "login"),
        ("POST", "/interaction/abc/mfa/x", None),
        ("POST", "/interaction/abc/passkey", "login"),
        ("POST", "/interaction/abc/passkey/options", "login"),
        ("POST", "/account/login/mfa", "login"),
        ("POST", "/account/login", "login"),
        ("GET", "/account/login", None),
        ("POST", "/account/forgot", "recovery"),
        ("POST", "/account/reset", "recovery"),
        ("GET", "/federation/google/login", "federation"),
        ("GET", "/federation/google/callback", "federation"),
        ("HEAD", "/federation/google/login", "federation"),
        ("GET", "/federation/google/other", None),
        ("POST", "/token", "token"),
        ("POST", "/revoke", "token"),
        ("POST", "/introspect", "token"),
        ("GET", "/jwks.json", None),
        ("GET", "/health", None),
    ],
)
def test_requests_map_to_endpoint_groups(method: str, path: str, group: str | None) -> None:
    assert group_of(method, path) == group
    assert group is None or group in GROUPS


@pytest.mark.parametrize(
    ("address", "source"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_an_ipv6_client_is_counted_by_its_64(address: str | None, source: str) -> None:
    assert source_of(address) == source


def test_the_request_over_the_limit_is_refused_until_the_window_ends(now: list[int]) -> None:
    """RFC 6585 §4: 429 with Retry-After, here the seconds until the window ends."""
    limits = limiter(login={"requests": 3, "window": 60})
    now[0] = T0 + 20
    assert [limits.hit("login", "203.0.113.9") for _ in range(3)] == [0, 0, 0]
    assert limits.hit("login", "203.0.113.9") == 40
    now[0] = T0 + 59
    assert limits.hit("login", "203.0.113.9") == 1
    # Another address, another group: counted apart.
    assert limits.hit("login", "203.0.113.10") == 0
    assert limits.hit("authorize", "203.0.113.9") == 0
    # The next window starts from nothing (refused requests were not counted).
    now[0] = T0 + 60
    assert [limits.hit("login", "203.0.113.9") for _ in range(3)] == [0, 0, 0]
    assert limits.hit("login", "203.0.113.9") == 60
    assert limits.refusals()["login"] == 3
    assert limits.refusals()["authorize"] == 0


def test_one_log_line_per_address_and_window(
    now: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    limits = limiter(recovery={"requests": 1})
    with caplog.at_level(logging.WARNING, "ostiary.limits"):
        for _ in range(5):
            limits.hit("recovery", "198.51.100.7")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "recovery from 198.51.100.7" in lines[0]


def test_zero_or_disabled_is_no_limit(now: list[int]) -> None:
    off = limiter(enabled=False, login={"requests": 1})
    assert not off.enabled
    assert all(off.hit("login", "192.0.2.1") == 0 for _ in range(10))
    # The token group is off by default.
    default = limiter()
    assert all(default.hit("token", "192.0.2.1") == 0 for _ in range(1000))
    assert default.refusals()["token"] == 0


def test_memory_is_bounded_oldest_address_forgotten_first(now: list[int]) -> None:
    limits = limiter(login={"requests": 2}, max_addresses=100)
    for _ in range(2):
        limits.hit("login", "192.0.2.1")
    assert limits.hit("login", "192.0.2.1") > 0
    for i in range(100):
        limits.hit("login", f"10.0.{i // 250}.{i % 250}")
    assert len(limits._counters) == 100
    assert limits.hit("login", "192.0.2.1") == 0, "the oldest counter was dropped"


def test_two_nodes_add_up_through_the_shared_store(now: list[int]) -> None:
    """Each node decides from the last total read plus its own new requests; after one
    exchange both refuse, including the node that saw no request since (a counter near
    its limit is read back even without new requests)."""
    store = MemoryCounters()
    a = limiter(store, login={"requests": 10})
    b = limiter(store, login={"requests": 10})
    address = "203.0.113.50"

    async def run() -> None:
        assert all(a.hit("login", address) == 0 for _ in range(6))
        await a.sync()
        # B has not heard of A's six yet: it decides on its own five.
        assert all(b.hit("login", address) == 0 for _ in range(5))
        await b.sync()
        assert b.hit("login", address) > 0, "B read back the total: 11 of 10"
        await a.sync()
        assert a.hit("login", address) > 0, "A refreshed a counter near its limit"

    asyncio.run(run())


class _Slow(MemoryCounters):
    """A shared store that answers only when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()

    async def add(self, deltas: Sequence[Delta]) -> dict[tuple[str, int], int]:
        await self.answer.wait()
        return await super().add(deltas)


def test_requests_during_an_exchange_count_with_the_ones_it_sends(now: list[int]) -> None:
    """The requests an exchange is sending are in neither the last total nor the new
    ones: they must still count while the store has not answered."""
    store = _Slow()
    limits = limiter(store, login={"requests": 4})

    async def run() -> None:
        assert [limits.hit("login", "192.0.2.8") for _ in range(2)] == [0, 0]
        exchange = asyncio.create_task(limits.sync())
        await asyncio.sleep(0)  # the exchange has taken the two and waits for the store
        assert [limits.hit("login", "192.0.2.8") for _ in range(2)] == [0, 0]
        assert limits.hit("login", "192.0.2.8") > 0
        store.answer.set()
        await exchange
        assert limits.hit("login", "192.0.2.8") > 0
        await limits.sync()
        assert limits.hit("login", "192.0.2.8") > 0

    asyncio.run(run())


class _Failing(MemoryCounters):
    """The shared store down for its first ``failures`` exchanges."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def add(self, deltas: Sequence[Delta]) -> dict[tuple[str, int], int]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store down")
        return await super().add(deltas)


def test_a_store_outage_keeps_local_decisions_and_sends_the_counts_later(
    now: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    store = _Failing(failures=2)
    a = limiter(store, login={"requests": 4})
    b = limiter(store, login={"requests": 4})

    async def run() -> None:
        for _ in range(3):
            assert a.hit("login", "192.0.2.9") == 0
        with caplog.at_level(logging.WARNING, "ostiary.limits"):
            await a.sync()
            await a.sync()
        assert len(caplog.records) == 1, "one line per outage, not one per exchange"
        # What failed, not its message (a database error's text may quote values).
        assert "ConnectionError" in caplog.text and "store down" not in caplog.text
        assert a.hit("login", "192.0.2.9") == 0
        assert a.hit("login", "192.0.2.9") > 0, "local counts still decide"
        await a.sync()  # the store is back: all four arrive
        b.hit("login", "192.0.2.9")
        await b.sync()
        assert b.hit("login", "192.0.2.9") > 0

    asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(
    hits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 179)), min_size=1, max_size=120).map(
        lambda hits: sorted(hits, key=lambda h: h[1])
    ),
    requests=st.integers(1, 8),
)
def test_one_node_allows_exactly_the_limit_per_address_and_window(
    hits: list[tuple[int, int]], requests: int
) -> None:
    """Whatever the order and timing of requests, one node lets through exactly
    min(requests made, limit) per address and 60-second window."""
    moment = [T0]
    original = clock.now
    clock.now = lambda: moment[0]  # type: ignore[assignment]
    try:
        limits = limiter(authorize={"requests": requests, "window": 60})
        allowed: dict[tuple[int, int], int] = {}
        made: dict[tuple[int, int], int] = {}
        for address, offset in hits:
            moment[0] = T0 + offset
            slot = (address, offset // 60)
            made[slot] = made.get(slot, 0) + 1
            if limits.hit("authorize", f"192.0.2.{address}") == 0:
                allowed[slot] = allowed.get(slot, 0) + 1
        for slot, count in made.items():
            assert allowed.get(slot, 0) == min(count, requests)
    finally:
        clock.now = original  # type: ignore[method-assign]


class _Recording(MemoryCounters):
    """A shared store that keeps the keys of each statement and can fail one of them."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.statements: list[list[str]] = []
        self.fail_at = fail_at
        self.totals: dict[tuple[str, int], int] = {}

    async def add(self, deltas: Sequence[Delta]) -> dict[tuple[str, int], int]:
        self.statements.append([key for key, *_ in deltas])
        if len(self.statements) - 1 == self.fail_at:
            raise ConnectionError("store down")
        totals = await super().add(deltas)
        self.totals.update(totals)
        return totals


def test_a_large_exchange_goes_in_key_ordered_slices(
    now: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many addresses were seen, one statement carries at most a slice of counters
    (the event loop is held a slice's worth at a time), in key order across statements (two
    nodes lock rows in the same order), and every count arrives once."""
    monkeypatch.setattr(limiter_module, "EXCHANGE_SLICE", 4)
    store = _Recording()
    a = limiter(store, login={"requests": 10})
    addresses = [f"198.51.100.{i}" for i in range(10)]

    async def run() -> None:
        for address in addresses:
            assert a.hit("login", address) == 0
            assert a.hit("login", address) == 0
        await a.sync()

    asyncio.run(run())
    assert [len(keys) for keys in store.statements] == [4, 4, 2]
    sent = [key for keys in store.statements for key in keys]
    assert sent == sorted(sent) and len(set(sent)) == 10
    assert all(store.totals[(key, T0)] == 2 for key in sent)


def test_a_store_failing_mid_exchange_sends_the_rest_next_time(
    now: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slices sent before the failure count; the failed slice and the ones after it go
    with the next exchange, each request counted exactly once."""
    monkeypatch.setattr(limiter_module, "EXCHANGE_SLICE", 3)
    store = _Recording(fail_at=1)
    a = limiter(store, login={"requests": 10})
    addresses = [f"198.51.100.{i}" for i in range(8)]

    async def run() -> None:
        for address in addresses:
            assert a.hit("login", address) == 0
        await a.sync()
        assert len(store.statements) == 2, "the exchange stopped at the failing slice"
        await a.sync()

    asyncio.run(run())
    first, _failed, *retried = store.statements
    assert len(first) == 3 and sum(len(keys) for keys in retried) == 5
    assert {key for key, _ in store.totals} == {key for keys in store.statements for key in keys}
    assert all(total == 1 for total in store.totals.values())
