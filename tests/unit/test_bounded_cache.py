"""BoundedCache: the bound, the order entries leave in, and expiry on an injected clock."""

from __future__ import annotations

import pytest

from ostiary.cache.bounded import BoundedCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def filled(n: int, **options: object) -> BoundedCache[str, int]:
    cache: BoundedCache[str, int] = BoundedCache(n, **options)  # type: ignore[arg-type]
    for i in range(n):
        cache.put(f"k{i}", i)
    return cache


def test_the_bound_holds_and_the_oldest_leaves_first() -> None:
    cache = filled(3)
    cache.put("k3", 3)
    assert len(cache) == 3
    assert list(cache) == ["k1", "k2", "k3"]
    assert cache.get("k0") is None


def test_lru_a_read_saves_an_entry_from_eviction() -> None:
    cache = filled(3)
    assert cache.get("k0") == 0
    cache.put("k3", 3)
    assert list(cache) == ["k2", "k0", "k3"]
    assert "k1" not in cache


def test_write_order_reads_do_not_reorder() -> None:
    cache = filled(3, lru=False)
    assert cache.get("k0") == 0
    cache.put("k3", 3)
    assert list(cache) == ["k1", "k2", "k3"]


def test_peek_leaves_the_order_and_move_to_end_changes_it() -> None:
    cache = filled(3)
    assert cache.peek("k0") == 0
    assert list(cache) == ["k0", "k1", "k2"]
    cache.move_to_end("k0")
    assert list(cache) == ["k1", "k2", "k0"]


def test_writing_a_key_again_replaces_it_and_makes_it_newest() -> None:
    cache = filled(3, lru=False)
    cache.put("k0", 10)
    assert list(cache) == ["k1", "k2", "k0"]
    assert cache.get("k0") == 10
    assert len(cache) == 3


def test_zero_bound_keeps_nothing() -> None:
    cache: BoundedCache[str, int] = BoundedCache(0)
    cache.put("a", 1)
    assert len(cache) == 0
    assert cache.get("a") is None


def test_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        BoundedCache(-1)


def test_ttl_entries_expire_on_the_injected_clock() -> None:
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(10, ttl=30, clock=clock)
    cache.put("a", "x")
    clock.now += 29.9
    assert cache.get("a") == "x"
    assert "a" in cache
    clock.now += 0.1  # live while clock() < expires_at
    assert "a" not in cache
    assert cache.peek("a") is None
    assert cache.get("a", "gone") == "gone"
    assert len(cache) == 0  # the expired entry was dropped when read


def test_an_entry_may_carry_its_own_end() -> None:
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(10, ttl=30, clock=clock)
    cache.put("short", "s", expires_at=clock.now + 5)
    cache.put("long", "l")
    clock.now += 5
    assert cache.get("short") is None
    assert cache.get("long") == "l"


def test_expiring_without_a_ttl_keeps_entries_without_an_end() -> None:
    clock = Clock()
    cache: BoundedCache[str, str] = BoundedCache(10, expiring=True, clock=clock)
    cache.put("forever", "f")
    cache.put("brief", "b", expires_at=clock.now + 1)
    clock.now += 1
    assert cache.get("brief") is None
    assert cache.get("forever") == "f"


def test_an_end_for_a_cache_without_expiry_is_refused() -> None:
    cache: BoundedCache[str, str] = BoundedCache(10)
    with pytest.raises(ValueError, match="no expiry"):
        cache.put("a", "x", expires_at=1.0)


def test_a_put_drops_expired_entries_at_the_old_end() -> None:
    clock = Clock()
    evicted: list[tuple[str, int]] = []
    cache: BoundedCache[str, int] = BoundedCache(
        10, ttl=10, clock=clock, lru=False, on_evict=lambda k, v: evicted.append((k, v))
    )
    cache.put("a", 1)
    clock.now += 5
    cache.put("b", 2)
    clock.now += 5
    cache.put("c", 3)
    assert list(cache) == ["b", "c"]
    assert evicted == [("a", 1)]


def test_pop_returns_live_values_only_and_removes_either_way() -> None:
    clock = Clock()
    cache: BoundedCache[str, int] = BoundedCache(10, ttl=10, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.pop("a") == 1
    assert cache.pop("a") is None
    clock.now += 10
    assert cache.pop("b", -1) == -1
    assert len(cache) == 0


def test_drop_expired_reaches_entries_anywhere() -> None:
    clock = Clock()
    cache: BoundedCache[str, int] = BoundedCache(10, expiring=True, clock=clock)
    cache.put("keep", 1, expires_at=clock.now + 100)
    cache.put("old", 2, expires_at=clock.now + 1)
    cache.put("plain", 3)
    clock.now += 1
    assert cache.drop_expired() == 1
    assert list(cache) == ["keep", "plain"]


def test_on_evict_hears_of_bound_evictions_not_pops_or_clears() -> None:
    evicted: list[str] = []
    cache: BoundedCache[str, int] = BoundedCache(2, on_evict=lambda k, _: evicted.append(k))
    cache.put("a", 1)
    cache.put("b", 2)
    cache.pop("a")
    cache.put("c", 3)
    assert evicted == []
    cache.put("d", 4)
    assert evicted == ["b"]
    cache.clear()
    assert evicted == ["b"]
    assert len(cache) == 0


def test_without_expiry_the_clock_is_never_read() -> None:
    def clock() -> float:
        raise AssertionError("no entry can expire: the clock must not be read")

    cache: BoundedCache[str, int] = BoundedCache(2, clock=clock)
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert cache.peek("a") == 1
    assert "a" in cache
    assert cache.pop("a") == 1
    assert cache.drop_expired() == 0


def test_drop_removes_what_the_predicate_names() -> None:
    cache = filled(5, lru=False)
    assert cache.drop(lambda key, value: value % 2 == 1) == 2
    assert list(cache) == ["k0", "k2", "k4"]


def test_shrink_keeps_the_newest() -> None:
    cache = filled(5)
    cache.shrink(2)
    assert list(cache) == ["k3", "k4"]
    cache.shrink(5)
    assert len(cache) == 2


@pytest.mark.parametrize("lru", [True, False])
def test_reads_answer_alike_with_or_without_the_dict_speed_path(lru: bool) -> None:
    """Write-order caches without expiry read through the dict's own get."""
    cache = filled(2, lru=lru)
    assert cache.get("k1") == 1
    assert cache.get("nope") is None
    assert cache.get("nope", -1) == -1
    assert cache.peek("k0") == 0
    assert cache.peek("nope", -1) == -1
