"""DPoP proof replay detection (RFC 9449 §11.1): a proof's ``jti`` may be used once by
its key while the proof is acceptable. The guard is a seam: the kit keeps the proofs it
has seen in memory (one process); the authorization server stores them in its database
(``used_jtis``, keyed by ``replay_key``), where every node sees them."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

from ostiary.cache.bounded import BoundedCache


class ReplayGuard(Protocol):
    """Remembers which proofs were used."""

    async def first_use(self, jkt: str, jti: str, expires_at: float) -> bool:
        """True the first time the key ``jkt`` uses ``jti`` (which is then remembered until
        ``expires_at``, epoch seconds: past it the proof is refused as stale anyway);
        False for a replay."""
        ...


def replay_key(jkt: str, jti: str) -> bytes:
    """The 32-byte digest a proof is remembered by: its jti scoped to its key, so one
    client's jti never blocks another's, and memory per proof is fixed whatever the jti."""
    # The key's length first: no (jkt, jti) pair reads as another.
    return hashlib.sha256(f"dpop:{len(jkt)}:{jkt}:{jti}".encode()).digest()


class MemoryReplayGuard:
    """The kit's guard: in this process only, at most ``max_entries`` proofs, each kept
    until its ``expires_at``.

    Full of live entries, the oldest leaves first (``evicted_live`` counts them): a proof
    evicted that way could be replayed once in what remains of its minute. Size the bound
    above the proofs one process accepts per ``max_age`` window, or share a guard between
    processes (docs/protect-an-api.md)."""

    def __init__(self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.evicted_live = 0
        self._clock = clock
        # Digest -> the proof's expires_at (also the entry's end).
        self._seen: BoundedCache[bytes, float] = BoundedCache(
            max_entries, expiring=True, clock=clock, lru=False, on_evict=self._evicted
        )

    def _evicted(self, key: bytes, expires_at: float) -> None:
        if expires_at > self._clock():  # pushed out by the bound while still live
            self.evicted_live += 1

    def __len__(self) -> int:
        return len(self._seen)

    async def first_use(self, jkt: str, jti: str, expires_at: float) -> bool:
        key = replay_key(jkt, jti)
        if key in self._seen:
            return False
        self._seen.put(key, expires_at, expires_at=expires_at)
        return True
