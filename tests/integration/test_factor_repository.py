"""The Factors repository (second factors and recovery codes) on SQLite, on PostgreSQL, and
in memory: the same answers from each, including when two requests race for one TOTP step
or one recovery code (exactly one wins: RFC 6238 §5.2, a code is accepted once)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import pytest

from ostiary import clock
from ostiary.domain.mfa import Factor
from ostiary.domain.repositories import Store
from ostiary.services import Services
from ostiary.storage.memory import MemoryStore
from tests.conftest import unique

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sql", "memory"])
def store(request: pytest.FixtureRequest, services: Services) -> Store:
    return services.store if request.param == "sql" else MemoryStore()


async def new_user(store: Store) -> str:
    user = await store.users.add(username=unique("mfa"), email=None, password_hash=None)
    return user.id


def totp_factor(user_id: str, name: str = "Phone", *, confirmed: bool = True) -> Factor:
    return Factor(
        id=str(uuid.uuid4()),
        user_id=user_id,
        kind="totp",
        name=name,
        created_at=clock.now(),
        confirmed=confirmed,
        secret=b"\x01sealed secret",
        last_step=100 if confirmed else None,
    )


def passkey(user_id: str, credential_id: bytes) -> Factor:
    return Factor(
        id=str(uuid.uuid4()),
        user_id=user_id,
        kind="passkey",
        name="Security key",
        created_at=clock.now(),
        credential_id=credential_id,
        public_key=b"\xa5cose key",
        sign_count=7,
        transports=("usb", "nfc"),
        backup_eligible=True,
        discoverable=True,
    )


def hashes(*codes: str) -> list[bytes]:
    return [hashlib.sha256(c.encode()).digest() for c in codes]


async def test_factors_round_trip_every_field(store: Store) -> None:
    user_id = await new_user(store)
    app = totp_factor(user_id)
    key = passkey(user_id, b"cred-" + uuid.uuid4().bytes)
    await store.factors.add(app)
    await store.factors.add(key)
    assert await store.factors.get(app.id) == app
    assert await store.factors.get(key.id) == key
    assert await store.factors.by_credential(key.credential_id or b"") == key
    assert await store.factors.by_credential(b"unknown") is None
    assert await store.factors.get("no-such-id") is None
    assert {f.id for f in await store.factors.for_user(user_id)} == {app.id, key.id}
    assert await store.factors.for_user(await new_user(store)) == []


async def test_confirm_once_and_only_an_unconfirmed_factor(store: Store) -> None:
    user_id = await new_user(store)
    factor = totp_factor(user_id, confirmed=False)
    await store.factors.add(factor)
    assert await store.factors.confirm(factor.id, last_step=500)
    assert not await store.factors.confirm(factor.id, last_step=501)
    stored = await store.factors.get(factor.id)
    assert stored is not None and stored.confirmed and stored.last_step == 500
    assert stored.last_used_at is not None
    assert not await store.factors.confirm("no-such-id", last_step=1)


async def test_rfc6238_s5_2_use_step_accepts_a_later_step_once(store: Store) -> None:
    user_id = await new_user(store)
    factor = totp_factor(user_id)
    unconfirmed = totp_factor(user_id, confirmed=False)
    await store.factors.add(factor)
    await store.factors.add(unconfirmed)
    assert not await store.factors.use_step(factor.id, 100)  # the step used last
    assert not await store.factors.use_step(factor.id, 99)
    assert await store.factors.use_step(factor.id, 101)
    assert not await store.factors.use_step(factor.id, 101)
    assert not await store.factors.use_step(unconfirmed.id, 200)
    stored = await store.factors.get(factor.id)
    assert stored is not None and stored.last_step == 101


async def test_rfc6238_s5_2_two_requests_racing_for_one_step_one_wins(store: Store) -> None:
    user_id = await new_user(store)
    factor = totp_factor(user_id)
    await store.factors.add(factor)
    results = await asyncio.gather(*(store.factors.use_step(factor.id, 102) for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]


async def test_rename_and_delete_only_the_owners_factor(store: Store) -> None:
    owner, other = await new_user(store), await new_user(store)
    factor = totp_factor(owner)
    await store.factors.add(factor)
    assert not await store.factors.rename(factor.id, other, "Mine now")
    assert not await store.factors.delete(factor.id, other)
    assert await store.factors.rename(factor.id, owner, "Old phone")
    renamed = await store.factors.get(factor.id)
    assert renamed is not None and renamed.name == "Old phone"
    assert await store.factors.delete(factor.id, owner)
    assert not await store.factors.delete(factor.id, owner)
    assert await store.factors.get(factor.id) is None


async def test_passkey_use_records_counter_backup_state_and_time(store: Store) -> None:
    user_id = await new_user(store)
    key = passkey(user_id, b"cred-" + uuid.uuid4().bytes)
    await store.factors.add(key)
    await store.factors.use_passkey(key.id, sign_count=8, backup_state=True)
    stored = await store.factors.get(key.id)
    assert stored is not None
    assert (stored.sign_count, stored.backup_state) == (8, True)
    assert stored.last_used_at is not None


async def test_recovery_codes_used_once_counted_and_replaced(store: Store) -> None:
    user_id, other = await new_user(store), await new_user(store)
    first = hashes("a", "b", "c")
    await store.factors.set_recovery_codes(user_id, first)
    await store.factors.set_recovery_codes(other, hashes("a"))
    assert await store.factors.recovery_codes_left(user_id) == 3
    assert await store.factors.use_recovery_code(user_id, first[0]) == 2
    assert await store.factors.use_recovery_code(user_id, first[0]) is None
    assert await store.factors.use_recovery_code(user_id, hashes("z")[0]) is None
    assert await store.factors.recovery_codes_left(other) == 1
    await store.factors.set_recovery_codes(user_id, hashes("d", "e"))
    assert await store.factors.use_recovery_code(user_id, first[1]) is None
    assert await store.factors.recovery_codes_left(user_id) == 2
    await store.factors.set_recovery_codes(user_id, [])
    assert await store.factors.recovery_codes_left(user_id) == 0
    assert await store.factors.recovery_codes_left(other) == 1


async def test_two_requests_racing_for_one_recovery_code_one_wins(store: Store) -> None:
    user_id = await new_user(store)
    codes = hashes("r1", "r2")
    await store.factors.set_recovery_codes(user_id, codes)
    results = await asyncio.gather(
        *(store.factors.use_recovery_code(user_id, codes[0]) for _ in range(6))
    )
    assert sorted(results, key=lambda r: r is None) == [1] + [None] * 5


async def test_delete_for_user_takes_factors_and_codes_of_that_user_only(store: Store) -> None:
    user_id, other = await new_user(store), await new_user(store)
    for name in ("Phone", "Tablet"):
        await store.factors.add(totp_factor(user_id, name))
    kept = totp_factor(other)
    await store.factors.add(kept)
    await store.factors.set_recovery_codes(user_id, hashes("a", "b"))
    await store.factors.set_recovery_codes(other, hashes("a"))
    assert await store.factors.delete_for_user(user_id) == 2
    assert await store.factors.for_user(user_id) == []
    assert await store.factors.recovery_codes_left(user_id) == 0
    assert await store.factors.for_user(other) == [kept]
    assert await store.factors.recovery_codes_left(other) == 1
    assert await store.factors.delete_for_user(user_id) == 0


async def test_deleting_the_user_deletes_factors_and_codes(store: Store) -> None:
    user_id = await new_user(store)
    factor = totp_factor(user_id)
    await store.factors.add(factor)
    await store.factors.set_recovery_codes(user_id, hashes("a"))
    assert await store.users.delete(user_id)
    assert await store.factors.get(factor.id) is None
    assert await store.factors.recovery_codes_left(user_id) == 0
