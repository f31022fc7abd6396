"""Single-use identifiers (client assertion and DPoP proof jtis) on SQLite and PostgreSQL:
the first use of a key wins, on any number of racing takers (RFC 7523 §3 item 7,
RFC 9449 §11.1), and retention forgets the expired ones."""

from __future__ import annotations

import hashlib
import secrets

import anyio
import pytest

from ostiary import clock, retention
from ostiary.services import Services

pytestmark = pytest.mark.anyio


def key() -> bytes:
    return hashlib.sha256(secrets.token_bytes(16)).digest()


async def test_rfc7523_3_7_a_key_is_used_once(services: Services) -> None:
    used, k = services.store.used_jtis, key()
    assert await used.first_use(k, clock.now() + 60) is True
    assert await used.first_use(k, clock.now() + 60) is False
    assert await used.first_use(key(), clock.now() + 60) is True


async def test_rfc9449_11_1_racing_takers_one_wins(services: Services) -> None:
    used, k, wins = services.store.used_jtis, key(), []

    async def take() -> None:
        wins.append(await used.first_use(k, clock.now() + 60))

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(take)
    assert sorted(wins) == [False] * 7 + [True]


async def test_retention_forgets_expired_keys_only(services: Services) -> None:
    used, expired, live = services.store.used_jtis, key(), key()
    assert await used.first_use(expired, clock.now() - 5)
    assert await used.first_use(live, clock.now() + 600)
    counts = await retention.purge(services)
    assert counts["used_jtis"] >= 1
    # The expired key may be used again (its assertion or proof is refused as stale anyway);
    # the live one is still remembered.
    assert await used.first_use(expired, clock.now() + 60) is True
    assert await used.first_use(live, clock.now() + 60) is False
