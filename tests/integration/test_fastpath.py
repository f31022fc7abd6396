"""The hot-path repository statements on SQLite and PostgreSQL.

Refresh rotation claims the old token and stores its successor in one statement (RFC 9700
§4.14.2: exactly one rotation per token, even between concurrent requests); the token's
user and session, and a JWT's deny-list entry, user and session, are each read in one
statement; the driver-level statements see exactly what SQLAlchemy Core wrote and back.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from typing import Any

import pytest
from sqlalchemy import select

from ostiary import clock
from ostiary.accounts.passwords import Passwords
from ostiary.crypto.tokens import digest
from ostiary.domain.tokens import NewRefreshToken
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.settings import PasswordSettings
from ostiary.storage.tables import refresh_tokens
from tests.conftest import unique

pytestmark = pytest.mark.anyio


async def add_user(services: Services) -> User:
    name = unique("fast")
    return await services.store.users.add(
        username=name,
        email=f"{name}@example.com",
        password_hash=None,
        profile={"given_name": "Zoë", "nested": {"a": [1, 2]}},
    )


def successor(family: str, user_id: str | None, **extra: Any) -> NewRefreshToken:
    return NewRefreshToken(
        token_hash=digest(secrets.token_urlsafe(16)),
        family_id=family,
        client_id="fast-client",
        user_id=user_id,
        scopes=["openid", "read"],
        auth_time=clock.now(),
        ttl=3600,
        access_jti=secrets.token_urlsafe(8),
        access_expires_at=clock.now() + 300,
        **extra,
    )


async def test_driver_reads_what_core_wrote_users_json_and_booleans(services: Services) -> None:
    user = await add_user(services)
    assert await services.store.users.get(user.id) == user
    assert await services.store.users.by_username(user.username) == user
    await services.store.users.set_disabled(user.id, True)
    got = await services.store.users.get(user.id)
    assert got is not None and got.disabled is True and got.profile["nested"] == {"a": [1, 2]}
    assert await services.store.users.get("no-such-user") is None


async def test_driver_insert_reads_back_through_core_identically(services: Services) -> None:
    user = await add_user(services)
    new = successor(
        "fam-" + secrets.token_hex(4),
        user.id,
        sid="sid-x",
        acr="urn:acr:1",
        amr=["pwd", "otp"],
        claims={"userinfo": {"email": None}},
    )
    await services.store.refresh_tokens.insert(new)
    core = await services.store.refresh_tokens.get(new.token_hash)
    state = await services.store.refresh_tokens.state(new.token_hash)
    assert core is not None and state is not None
    assert state.token == core
    assert core.scopes == ("openid", "read") and core.amr == ["pwd", "otp"]
    assert core.claims == {"userinfo": {"email": None}}
    assert state.user == user
    # The sid names no session: the token's session has ended.
    assert state.session_expires_at is None and state.session_ended(clock.now())


async def test_state_reports_session_end_and_disabled_user(services: Services) -> None:
    user = await add_user(services)
    session = await services.store.sessions.add(
        id_hash=digest(secrets.token_urlsafe(8)), user_id=user.id, ttl=600
    )
    new = successor("fam-" + secrets.token_hex(4), user.id, sid=session.sid)
    await services.store.refresh_tokens.insert(new)
    state = await services.store.refresh_tokens.state(new.token_hash)
    assert state is not None
    assert state.session_expires_at == session.expires_at
    assert not state.session_ended(clock.now()) and not state.user_inactive()
    await services.store.users.set_disabled(user.id, True)
    state = await services.store.refresh_tokens.state(new.token_hash)
    assert state is not None and state.user_inactive()
    assert await services.store.refresh_tokens.state(digest("unknown")) is None


async def test_rfc7662_introspected_refresh_token_agrees_with_state(services: Services) -> None:
    """Introspection's narrow read says what ``state`` says about activity and the fields
    it reports, through use, user disabling and the session's end."""
    tokens = services.store.refresh_tokens
    user = await add_user(services)
    session = await services.store.sessions.add(
        id_hash=digest(secrets.token_urlsafe(8)), user_id=user.id, ttl=600
    )
    new = successor("fam-" + secrets.token_hex(4), user.id, sid=session.sid)
    await tokens.insert(new)
    seen = await tokens.introspected(new.token_hash)
    assert seen is not None
    assert (seen.client_id, seen.user_id, seen.username) == (new.client_id, user.id, user.username)
    assert seen.scopes == new.scopes and not seen.spent and not seen.user_inactive
    assert seen.expires_at > clock.now() and seen.created_at <= clock.now()
    assert not seen.session_ended(clock.now())
    assert seen.session_ended(session.expires_at)

    await services.store.users.set_disabled(user.id, True)
    seen = await tokens.introspected(new.token_hash)
    assert seen is not None and seen.user_inactive
    await services.store.users.set_disabled(user.id, False)

    assert await tokens.rotate(new.token_hash, successor(new.family_id, user.id, sid=session.sid))
    seen = await tokens.introspected(new.token_hash)
    assert seen is not None and seen.spent

    await services.store.sessions.delete(session.id_hash)
    offline = successor("fam-" + secrets.token_hex(4), None)
    await tokens.insert(offline)
    seen = await tokens.introspected(offline.token_hash)
    assert seen is not None
    assert seen.user_id is None and seen.username is None and not seen.user_inactive
    assert not seen.session_ended(clock.now())  # not bound to a session
    assert await tokens.introspected(digest("unknown")) is None


async def test_rfc9700_4_14_2_rotation_claims_once_and_stores_the_successor(
    services: Services,
) -> None:
    family = "fam-" + secrets.token_hex(4)
    first = successor(family, None)
    await services.store.refresh_tokens.insert(first)
    second = successor(family, None)
    assert await services.store.refresh_tokens.rotate(first.token_hash, second)
    old = await services.store.refresh_tokens.get(first.token_hash)
    new = await services.store.refresh_tokens.get(second.token_hash)
    assert old is not None and old.used_at is not None
    assert new is not None and new.family_id == family and new.used_at is None
    # The same token again: refused, and nothing stored.
    third = successor(family, None)
    assert not await services.store.refresh_tokens.rotate(first.token_hash, third)
    assert await services.store.refresh_tokens.get(third.token_hash) is None


async def test_rfc9700_4_14_2_concurrent_rotations_exactly_one_wins(services: Services) -> None:
    family = "fam-" + secrets.token_hex(4)
    first = successor(family, None)
    await services.store.refresh_tokens.insert(first)
    candidates = [successor(family, None) for _ in range(8)]
    results = await asyncio.gather(
        *(services.store.refresh_tokens.rotate(first.token_hash, c) for c in candidates)
    )
    assert sorted(results) == [False] * 7 + [True]
    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(refresh_tokens.c.token_hash).where(refresh_tokens.c.family_id == family)
            )
        ).all()
    # The original and exactly one successor.
    assert len(rows) == 2


async def test_rfc9700_4_14_2_revoked_token_cannot_rotate(services: Services) -> None:
    family = "fam-" + secrets.token_hex(4)
    first = successor(family, None)
    await services.store.refresh_tokens.insert(first)
    revoked = await services.store.refresh_tokens.revoke_family(family)
    assert [r.jti for r in revoked] == [first.access_jti]
    assert not await services.store.refresh_tokens.rotate(first.token_hash, successor(family, None))


async def test_rfc9700_4_14_2_family_revocation_racing_rotations_leaves_nothing_live(
    services: Services,
) -> None:
    """Rotations and a family revocation run at once: whatever order the database picks,
    no token of the family is left unrevoked."""
    for _ in range(5):
        family = "fam-" + secrets.token_hex(4)
        current = successor(family, None)
        await services.store.refresh_tokens.insert(current)

        async def chain(start: NewRefreshToken) -> None:
            token = start
            for _ in range(6):
                nxt = successor(start.family_id, None)
                if not await services.store.refresh_tokens.rotate(token.token_hash, nxt):
                    return
                token = nxt

        await asyncio.gather(chain(current), services.store.refresh_tokens.revoke_family(family))
        async with services.engine.connect() as conn:
            live = (
                await conn.execute(
                    select(refresh_tokens.c.token_hash).where(
                        refresh_tokens.c.family_id == family,
                        refresh_tokens.c.revoked_at.is_(None),
                    )
                )
            ).all()
        assert live == []


async def test_rfc7662_access_state_in_one_statement(services: Services) -> None:
    user = await add_user(services)
    session = await services.store.sessions.add(
        id_hash=digest(secrets.token_urlsafe(8)), user_id=user.id, ttl=600
    )
    jti = secrets.token_urlsafe(8)
    state = await services.store.revocations.access_state(jti, user.id, session.sid)
    assert not state.revoked and state.user == user
    assert state.session_expires_at == session.expires_at
    await services.store.revocations.revoke([(jti, clock.now() + 60)])
    state = await services.store.revocations.access_state(jti, None, None)
    assert state.revoked and state.user is None and state.session_expires_at is None
    state = await services.store.revocations.access_state(jti, "gone", "gone")
    assert state.user is None and state.session_expires_at is None


async def test_rfc7662_access_brief_agrees_with_access_state(services: Services) -> None:
    user = await add_user(services)
    session = await services.store.sessions.add(
        id_hash=digest(secrets.token_urlsafe(8)), user_id=user.id, ttl=600
    )
    revocations = services.store.revocations
    jti = secrets.token_urlsafe(8)
    brief = await revocations.access_brief(jti, user.id, session.sid)
    assert not brief.revoked and brief.username == user.username and not brief.user_disabled
    assert brief.session_expires_at == session.expires_at
    await services.store.users.set_disabled(user.id, True)
    assert (await revocations.access_brief(jti, user.id, None)).user_disabled
    await revocations.revoke([(jti, clock.now() + 60)])
    brief = await revocations.access_brief(jti, None, None)
    assert brief.revoked and brief.username is None and brief.session_expires_at is None
    brief = await revocations.access_brief(jti, "gone", "gone")
    assert brief.username is None and brief.session_expires_at is None


async def test_argon2id_hashes_never_exceed_the_bound() -> None:
    passwords = Passwords(PasswordSettings(), concurrency=2)
    running = 0
    peak = 0
    lock = threading.Lock()
    real = passwords._verify_sync

    def counting(stored: str | None, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real(stored, password)
        finally:
            with lock:
                running -= 1

    passwords._verify_sync = counting  # type: ignore[method-assign]
    stored = await passwords.hash("correct horse battery staple")
    results = await asyncio.gather(
        *(passwords.verify(stored, "correct horse battery staple") for _ in range(6))
    )
    assert results == [True] * 6
    assert peak <= 2
    assert not await passwords.verify(stored, "wrong")


async def test_live_session_and_its_user_in_one_statement(services: Services) -> None:
    user = await add_user(services)
    live = await services.store.sessions.add(
        id_hash=digest(secrets.token_urlsafe(8)),
        user_id=user.id,
        ttl=600,
        amr=("pwd", "otp"),
        acr="urn:example:mfa",
    )
    found = await services.store.sessions.live_with_user(live.id_hash)
    assert found == (live, user, False)
    expired = await services.store.sessions.add(
        id_hash=digest(secrets.token_urlsafe(8)), user_id=user.id, ttl=-1
    )
    assert await services.store.sessions.live_with_user(expired.id_hash) is None
    assert await services.store.sessions.live_with_user(digest("no-such-cookie")) is None
    await services.store.users.set_disabled(user.id, True)
    found = await services.store.sessions.live_with_user(live.id_hash)
    assert found is not None and found[1].disabled
