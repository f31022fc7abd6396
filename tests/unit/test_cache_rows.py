"""RowCache: bounded, expiring, and never left holding a row changed during its own read."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.cache.rows import RowCache


class Table:
    """Stands in for the database behind the cache: a dict and a read counter."""

    def __init__(self, rows: dict[str, str]) -> None:
        self.rows = dict(rows)
        self.reads = 0

    async def load(self, key: str) -> str | None:
        self.reads += 1
        return self.rows.get(key)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_second_read_comes_from_memory() -> None:
    table = Table({"a": "A"})
    cache: RowCache[str] = RowCache(ttl=60)
    assert run(cache.get("a", table.load)) == "A"
    assert run(cache.get("a", table.load)) == "A"
    assert table.reads == 1


def test_unknown_keys_are_never_cached() -> None:
    """A client registered after a miss is found at once (and random ids fill nothing)."""
    table = Table({})
    cache: RowCache[str] = RowCache(ttl=60)
    assert run(cache.get("new", table.load)) is None
    table.rows["new"] = "N"
    assert run(cache.get("new", table.load)) == "N"
    assert len(cache) == 1


def test_ttl_zero_disables_the_cache() -> None:
    table = Table({"a": "A"})
    cache: RowCache[str] = RowCache(ttl=0)
    for _ in range(3):
        run(cache.get("a", table.load))
    assert table.reads == 3 and len(cache) == 0


def test_unusable_cache_reads_through() -> None:
    """While the invalidation channel is down nothing is served from memory."""
    table = Table({"a": "A"})
    cache: RowCache[str] = RowCache(ttl=60)
    run(cache.get("a", table.load))
    cache.usable = False
    table.rows["a"] = "changed"
    assert run(cache.get("a", table.load)) == "changed"


def test_expired_entries_are_reloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("ostiary.cache.rows.time.monotonic", lambda: now[0])
    table = Table({"a": "A"})
    cache: RowCache[str] = RowCache(ttl=5)
    run(cache.get("a", table.load))
    table.rows["a"] = "B"
    now[0] += 4.9
    assert run(cache.get("a", table.load)) == "A"
    now[0] += 0.2
    assert run(cache.get("a", table.load)) == "B"


def test_invalidation_during_a_read_keeps_the_old_row_out() -> None:
    """The fill/invalidate race: a change committed while a request reads the old row."""
    cache: RowCache[str] = RowCache(ttl=60)
    rows = {"a": "old"}

    async def slow_load(key: str) -> str | None:
        value = rows[key]
        # Another node changes the row and announces it while this read is in flight.
        rows[key] = "new"
        cache.invalidate(key)
        return value

    assert run(cache.get("a", slow_load)) == "old"
    assert len(cache) == 0

    async def load(key: str) -> str | None:
        return rows[key]

    assert run(cache.get("a", load)) == "new"


def test_size_is_bounded_least_recently_used_first() -> None:
    table = Table({str(i): f"v{i}" for i in range(10)})
    cache: RowCache[str] = RowCache(ttl=60, max_entries=3)
    for key in ["0", "1", "2", "0", "3"]:
        run(cache.get(key, table.load))
    assert len(cache) == 3
    reads = table.reads
    run(cache.get("0", table.load))  # recently used: still there
    assert table.reads == reads
    run(cache.get("1", table.load))  # least recently used: evicted
    assert table.reads == reads + 1


operations = st.lists(
    st.tuples(st.sampled_from(["get", "set", "invalidate", "clear"]), st.sampled_from("abc")),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_a_read_after_any_invalidated_change_sees_the_database(ops: list[tuple[str, str]]) -> None:
    """Whatever the order of reads and announced changes, get() equals the table."""
    table = Table({"a": "0", "b": "0"})
    cache: RowCache[str] = RowCache(ttl=60, max_entries=2)
    version = 0
    for op, key in ops:
        if op == "get":
            assert run(cache.get(key, table.load)) == table.rows.get(key)
        elif op == "set":
            version += 1
            table.rows[key] = str(version)
            cache.invalidate(key)
        elif op == "invalidate":
            cache.invalidate(key)
        else:
            table.rows.pop(key, None)
            cache.invalidate()
