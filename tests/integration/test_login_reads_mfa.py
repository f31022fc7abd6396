"""The password login reads what a sign-in owes (the account's confirmed factors and
whether its roles or groups require MFA) in its one statement (``Interactions.login_state``),
and a session's read whether its user's roles or groups do (``Sessions.live_with_user``).
These tests hold that read to the plain repositories it stands in for:
``Factors.for_user`` and ``Access.mfa_required_by``, on SQLite, PostgreSQL and the memory
store, for every way a requirement reaches a user."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable

import pytest

from ostiary import clock
from ostiary.domain import identifiers
from ostiary.domain.interactions import Interaction, MfaReads
from ostiary.domain.mfa import Factor
from ostiary.domain.repositories import Store
from ostiary.services import Services
from ostiary.storage.memory.store import MemoryStore
from tests.conftest import unique

pytestmark = pytest.mark.anyio

Arrange = Callable[[Store, str], Awaitable[None]]


async def _nothing(store: Store, user_id: str) -> None:
    return None


async def _direct_role(store: Store, user_id: str) -> None:
    role = unique("role")
    await store.access.create_role(role)
    await store.access.update_role(role, require_mfa=True)
    await store.access.assign(user_id, role)


async def _role_without_flag(store: Store, user_id: str) -> None:
    role = unique("role")
    await store.access.create_role(role)
    await store.access.assign(user_id, role)


async def _group(store: Store, user_id: str) -> None:
    group = await store.access.create_group(unique("group"))
    await store.access.update_group(group.id, require_mfa=True)
    await store.access.add_member(group.id, user_id)


async def _role_through_group(store: Store, user_id: str) -> None:
    role = unique("role")
    await store.access.create_role(role)
    await store.access.update_role(role, require_mfa=True)
    group = await store.access.create_group(unique("group"))
    await store.access.grant_group_role(group.id, role)
    await store.access.add_member(group.id, user_id)


async def _parent_group(store: Store, user_id: str) -> None:
    parent = await store.access.create_group(unique("parent"))
    await store.access.update_group(parent.id, require_mfa=True)
    child = await store.access.create_group(unique("child"))
    await store.access.nest(child.id, parent.id)
    await store.access.add_member(child.id, user_id)


async def _someone_elses_group(store: Store, user_id: str) -> None:
    other = await store.users.add(username=unique("other"), email=None, password_hash=None)
    group = await store.access.create_group(unique("group"))
    await store.access.update_group(group.id, require_mfa=True)
    await store.access.add_member(group.id, other.id)


def _factor(user_id: str, kind: str, confirmed: bool) -> Factor:
    return Factor(
        id=str(uuid.uuid4()),
        user_id=user_id,
        kind=kind,  # type: ignore[arg-type]
        name=kind,
        created_at=clock.now(),
        confirmed=confirmed,
        credential_id=secrets.token_bytes(16) if kind == "passkey" else None,
    )


ARRANGEMENTS: dict[str, Arrange] = {
    "nothing": _nothing,
    "direct role": _direct_role,
    "role without the flag": _role_without_flag,
    "group": _group,
    "role through a group": _role_through_group,
    "parent group": _parent_group,
    "someone else's group": _someone_elses_group,
}
FACTORS = {
    "no factor": [],
    "unconfirmed totp": [("totp", False)],
    "totp and passkey": [("totp", True), ("passkey", True)],
}


async def _check(store: Store, arrange: Arrange, factors: list[tuple[str, bool]]) -> None:
    username = unique("mfa-reads")
    user = await store.users.add(username=username, email=None, password_hash=None)
    await arrange(store, user.id)
    for kind, confirmed in factors:
        await store.factors.add(_factor(user.id, kind, confirmed))
    interaction = Interaction(
        id=secrets.token_urlsafe(24),
        browser_hash=secrets.token_bytes(32),
        client_id="any",
        request={"scopes": []},
        expires_at=clock.now() + 600,
    )
    await store.interactions.add(interaction)
    reads = await store.interactions.login_state(
        interaction.id, ["user:x"], identifiers.username_key(username)
    )
    assert reads.account is not None and reads.account.id == user.id
    plain = MfaReads(
        tuple(f.kind for f in await store.factors.for_user(user.id) if f.confirmed),
        bool(await store.access.mfa_required_by(user.id)),
    )
    assert reads.mfa is not None
    assert sorted(reads.mfa.factor_kinds) == sorted(plain.factor_kinds)
    assert reads.mfa.required_by_access == plain.required_by_access
    # A session's read (every reused sign-in) carries the same answer.
    session = await store.sessions.add(
        id_hash=secrets.token_bytes(32), user_id=user.id, ttl=600, amr=("pwd",)
    )
    found = await store.sessions.live_with_user(session.id_hash)
    assert found is not None and found[2] == plain.required_by_access


@pytest.mark.parametrize("arrangement", list(ARRANGEMENTS))
@pytest.mark.parametrize("factors", list(FACTORS))
async def test_the_login_read_agrees_with_the_repositories(
    services: Services, arrangement: str, factors: str
) -> None:
    await _check(services.store, ARRANGEMENTS[arrangement], FACTORS[factors])


@pytest.mark.parametrize("arrangement", list(ARRANGEMENTS))
async def test_the_memory_store_agrees_too(arrangement: str) -> None:
    await _check(MemoryStore(), ARRANGEMENTS[arrangement], FACTORS["totp and passkey"])


async def test_no_account_named_reads_no_mfa(services: Services) -> None:
    reads = await services.store.interactions.login_state("nope", [], "nobody-" + unique("x"))
    assert reads.account is None and reads.mfa is None


async def _take_twice(store: Store) -> list[bool]:
    interaction = Interaction(
        id=secrets.token_urlsafe(24),
        browser_hash=secrets.token_bytes(32),
        client_id="any",
        request={"scopes": []},
        expires_at=clock.now() + 600,
    )
    await store.interactions.add(interaction)
    await store.interactions.set_pending(interaction.id, None, {"challenge": "c-1", "amr": []})
    rest = {"amr": []}
    return list(
        await asyncio.gather(
            store.interactions.take_challenge(interaction.id, "c-1", rest),
            store.interactions.take_challenge(interaction.id, "c-1", rest),
        )
    )


async def test_webauthn_l3_s13_4_3_a_challenge_is_taken_once(services: Services) -> None:
    """Two answers to one challenge posted at once: exactly one may go on (an authenticator
    whose signature counter stays 0 gives no other protection against a replay)."""
    assert sorted(await _take_twice(services.store)) == [False, True]
    assert sorted(await _take_twice(MemoryStore())) == [False, True]
