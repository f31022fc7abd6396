"""The password-login statements on the driver connection (issue #8), SQLite and PostgreSQL.

An interaction is read with its scopes' role gates and the enabled providers' buttons in
one statement, exactly as the separate reads would give them; deleting it is single use;
the throttle reads, counts, locks and clears as before, and a successful login clears the
account's failures only when it had some (no write otherwise); one audit event written on
the driver reads back as SQLAlchemy Core reads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time

import pytest
from sqlalchemy import update

from ostiary import clock
from ostiary.accounts import access as rbac
from ostiary.accounts import throttle
from ostiary.accounts.throttle import Throttle
from ostiary.crypto.tokens import AUTHORIZATION_CODE_PREFIX, SESSION_PREFIX, digest, new_secret
from ostiary.domain.audit import AuditEvent
from ostiary.domain.interactions import Interaction
from ostiary.domain.sessions import Session
from ostiary.domain.users import User
from ostiary.federation.providers import Provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.settings import LockoutSettings
from ostiary.storage.repos import codes as codes_module
from ostiary.storage.repos._driver import Writes
from ostiary.storage.repos.federation_providers import ProviderRepository
from ostiary.storage.tables import authorization_codes
from tests.conftest import unique

pytestmark = pytest.mark.anyio


def providers(services: Services) -> ProviderRepository:
    return ProviderRepository(services.engine, client_secrets(services.settings))


async def add_interaction(services: Services, scopes: list[str], ttl: int = 600) -> Interaction:
    interaction = Interaction(
        id=secrets.token_urlsafe(24),
        browser_hash=secrets.token_bytes(32),
        client_id=unique("client"),
        request={"scopes": scopes, "state": "ä ☃", "claims": None, "prompt": []},
        expires_at=clock.now() + ttl,
    )
    await services.store.interactions.add(interaction)
    return interaction


async def test_interaction_round_trip_and_single_use(services: Services) -> None:
    interactions = services.store.interactions
    interaction = await add_interaction(services, ["openid", "read"])
    assert await interactions.get_live(interaction.id) == interaction
    await interactions.mark_authenticated(interaction.id)
    marked = await interactions.get_live(interaction.id)
    assert marked is not None and marked.authenticated is True
    assert await interactions.delete(interaction.id) is True
    assert await interactions.delete(interaction.id) is False
    assert await interactions.get_live(interaction.id) is None
    assert await interactions.state(interaction.id) is None
    expired = await add_interaction(services, ["read"], ttl=-1)
    assert await interactions.get_live(expired.id) is None
    assert await interactions.state(expired.id) is None


async def test_concurrent_deletes_one_wins(services: Services) -> None:
    interaction = await add_interaction(services, ["read"])
    results = await asyncio.gather(
        *(services.store.interactions.delete(interaction.id) for _ in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]


async def test_state_reads_gates_and_buttons_as_separate_reads_would(services: Services) -> None:
    access = services.store.access
    role, gated, open_ = unique("role"), unique("gated"), unique("open")
    await access.create_role(role)
    await access.create_scope(gated, required_roles=[role])
    await access.create_scope(open_)
    repo = providers(services)
    names = [unique("idp") for _ in range(3)]
    # Display names sort differently from the names; one provider is switched off.
    for name, label, enabled in zip(
        names, ["Zeta", "Alpha", "Mid"], [True, True, False], strict=True
    ):
        await repo.add(
            Provider(name, label, "oidc", "https://idp.example", "cid", None, ("openid",), enabled)
        )
    scopes = ["openid", gated, open_]
    interaction = await add_interaction(services, scopes)

    state = await services.store.interactions.state(interaction.id)

    assert state is not None
    assert state.interaction == interaction
    assert state.gates == {gated: frozenset({role})}
    assert state.gates == await access.requirements(scopes)
    assert state.buttons == await repo.buttons()
    mine = [b for b in state.buttons if b[0] in names]
    assert mine == [(names[1], "Alpha"), (names[0], "Zeta")]
    for name in names:
        await repo.delete(name)


async def test_state_without_gates_or_providers(services: Services) -> None:
    interaction = await add_interaction(services, [])
    state = await services.store.interactions.state(interaction.id)
    assert state is not None and state.gates == {}
    assert state.buttons == await providers(services).buttons()


async def test_grantable_with_gates_read_beforehand(services: Services) -> None:
    access = services.store.access
    role, gated = unique("role"), unique("gated")
    await access.create_role(role)
    await access.create_scope(gated, required_roles=[role])
    user = await services.store.users.add(username=unique("u"), email=None, password_hash=None)
    scopes = frozenset({"openid", gated})
    gates = await access.requirements(scopes)
    assert await rbac.grantable(services, user.id, scopes, gates) == {"openid"}
    assert await rbac.grantable(services, user.id, scopes) == {"openid"}
    await access.assign(user.id, role)
    assert await rbac.grantable(services, user.id, scopes, gates) == scopes
    # Gates of scopes not asked about here play no part.
    assert await rbac.grantable(services, user.id, frozenset({"openid"}), gates) == {"openid"}


async def test_throttle_counts_locks_and_clears(services: Services) -> None:
    repo = services.store.throttles
    key, other = unique("user:"), unique("ip:login:")
    assert await repo.state([key, other]) == (await repo.state([]))
    assert await repo.fail(key, window=900) == 1
    assert await repo.fail(key, window=900) == 2
    state = await repo.state([key, other])
    assert state.recorded == {key} and state.locked_until == 0
    until = clock.now() + 60
    await repo.lock(key, until)
    assert await repo.locked_until([key, other]) == until
    assert await repo.clear([key, other]) == 1
    assert await repo.state([key]) == (await repo.state([]))


async def test_throttle_stale_failures_start_over(services: Services) -> None:
    repo = services.store.throttles
    key = unique("user:")
    assert await repo.fail(key, window=900) == 1
    assert await repo.fail(key, window=900) == 2
    # A window that ended before the last failure: the count starts over.
    assert await repo.fail(key, window=-1) == 1


async def test_lockout_and_reset_on_success_stay_exact(services: Services) -> None:
    settings = LockoutSettings(account_threshold=3, ip_threshold=100, base_lock=30)
    guard = Throttle(services.store.throttles, settings)
    keys = [throttle.account_key(unique("who")), throttle.ip_key(unique("10.0.0"))]

    checked = await guard.check(keys)
    assert checked.wait == 0 and checked.recorded == frozenset()
    for _ in range(2):
        await guard.failed(keys)
    checked = await guard.check(keys)
    assert checked.wait == 0 and checked.recorded == set(keys)
    # A success clears the account's failures (not the address's).
    await guard.succeeded(keys[:1], checked)
    assert (await guard.check(keys)).recorded == {keys[1]}

    for _ in range(3):
        await guard.failed(keys)
    assert 0 < (await guard.check(keys)).wait <= 30
    assert (await guard.check(keys)).wait == await guard.wait_seconds(keys)


async def test_success_without_failures_writes_nothing(services: Services) -> None:
    guard = Throttle(services.store.throttles, LockoutSettings())
    key = throttle.account_key(unique("clean"))
    checked = await guard.check([key])

    # A failure that lands while this login's password is being verified is kept.
    await services.store.throttles.fail(key, window=900)
    await guard.succeeded([key], checked)
    assert (await guard.check([key])).recorded == {key}
    # Without a check, as before: cleared unconditionally.
    await guard.succeeded([key])
    assert (await guard.check([key])).recorded == frozenset()


async def test_one_audit_event_on_the_driver_reads_back(services: Services) -> None:
    user_id = unique("audited")
    event = AuditEvent(
        type="login.success",
        actor=f"user:{user_id}",
        user_id=user_id,
        client_id="c1",
        ip="127.0.0.1",
        details={"method": "pwd", "nested": {"é": [1, None]}},
        at=clock.now(),
    )
    await services.store.audit.add_many([event])
    quiet = AuditEvent(type="login.failure", actor="anonymous", user_id=user_id)
    await services.store.audit.add_many([quiet])
    batch = [AuditEvent(type="token.issued", actor="client:c1", user_id=user_id)] * 2
    await services.store.audit.add_many(batch)

    rows = await services.store.audit.query(user_id=user_id)

    assert [r.type for r in rows] == ["login.success", "login.failure"] + ["token.issued"] * 2
    first, second = rows[0], rows[1]
    assert first.details == event.details and first.at == event.at and first.ip == "127.0.0.1"
    assert (first.outcome, first.reason, first.client_id) == ("success", None, "c1")
    assert second.details == {} and second.at > 0 and second.ip is None


async def one_code_client(services: Services) -> tuple[str, str]:
    """A user and a client to issue codes to: (user id, client id)."""
    store = services.store
    user = await store.users.add(
        username=unique("held"), email=None, password_hash=None, profile={}
    )
    client = await store.clients.add(
        client_id=unique("held"),
        name="held back",
        secret_hash=digest("not-used"),
        public=False,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=["https://app.example.com/cb"],
        grant_types=["authorization_code"],
        scopes=["read"],
    )
    return user.id, client.client_id


async def test_rfc6749_10_5_an_interaction_yields_one_code_even_if_submitted_twice(
    services: Services,
) -> None:
    """The code, the session's client link and the interaction's consumption are one
    write: of concurrent submissions exactly one stores a code (issue #8, one round trip)."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
    )
    interaction = await add_interaction(services, ["read"])

    async def add_code(code_hash: bytes, interaction_id: str | None) -> bool:
        return await store.codes.add(
            code_hash=code_hash,
            client_id=client_id,
            user_id=user_id,
            session_hash=session.id_hash,
            redirect_uri="https://app.example.com/cb",
            redirect_uri_given=interaction_id is not None,
            scopes=["read"],
            code_challenge=None,
            auth_time=session.auth_time,
            ttl=60,
            sid=session.sid,
            interaction_id=interaction_id,
        )

    async def submit() -> bytes | None:
        code_hash = digest(new_secret(AUTHORIZATION_CODE_PREFIX))
        return code_hash if await add_code(code_hash, interaction.id) else None

    results = await asyncio.gather(*(submit() for _ in range(4)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    for code_hash in results:
        found = await store.codes.get(code_hash or b"-")
        assert (found is not None) == (code_hash in winners)
    assert await store.interactions.get_live(interaction.id) is None
    assert await store.sessions.clients_of(session.sid) == [client_id]

    # Without an interaction (an authorization answered at once): stored, linked once.
    direct = digest(new_secret(AUTHORIZATION_CODE_PREFIX))
    assert await add_code(direct, None)
    assert await store.codes.get(direct) is not None
    assert await store.sessions.clients_of(session.sid) == [client_id]


async def test_the_interaction_is_stored_with_the_login_buttons_read(services: Services) -> None:
    """/authorize answers with the login page: storing the interaction reads the buttons
    the page shows, in the same round trip, as a separate read would give them."""
    repo = providers(services)
    name = unique("idp")
    await repo.add(Provider(name, "Button", "oidc", "https://idp.example", "c", None, (), True))
    interaction = Interaction(
        id=secrets.token_urlsafe(24),
        browser_hash=secrets.token_bytes(32),
        client_id=unique("client"),
        request={"scopes": ["read"]},
        expires_at=clock.now() + 600,
    )

    buttons = await services.store.interactions.add(interaction)

    assert buttons == await repo.buttons() and (name, "Button") in buttons
    assert await services.store.interactions.get_live(interaction.id) == interaction
    await repo.delete(name)


async def issue_with(
    services: Services,
    writes: Writes,
    user_id: str,
    client_id: str,
    session_hash: bytes,
    sid: str,
    interaction_id: str,
) -> tuple[bytes, bool]:
    code_hash = digest(new_secret(AUTHORIZATION_CODE_PREFIX))
    stored = await services.store.codes.add(
        code_hash=code_hash,
        client_id=client_id,
        user_id=user_id,
        session_hash=session_hash,
        redirect_uri="https://app.example.com/cb",
        redirect_uri_given=True,
        scopes=["read"],
        code_challenge=None,
        auth_time=clock.now(),
        ttl=60,
        sid=sid,
        interaction_id=interaction_id,
        writes=writes,
    )
    return code_hash, stored


async def test_held_back_session_and_audit_rows_are_written_with_the_code(
    services: Services,
) -> None:
    """Issue #8: a password login's session row and login.success event travel with the
    code's write (one round trip); nothing is written before it, everything after it."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    interaction = await add_interaction(services, ["read"])
    writes = Writes()
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600, writes=writes
    )
    await services.audit.record(
        "login.success", actor=f"user:{user_id}", user_id=user_id, writes=writes
    )
    assert writes
    assert await store.sessions.get_live(session.id_hash) is None
    assert await store.audit.query(user_id=user_id) == []

    code_hash, stored = await issue_with(
        services, writes, user_id, client_id, session.id_hash, session.sid, interaction.id
    )

    assert stored and not writes
    assert await store.sessions.get_live(session.id_hash) == session
    assert [e.type for e in await store.audit.query(user_id=user_id)] == ["login.success"]
    assert await store.codes.get(code_hash) is not None
    # The session's link to the client needs the session row written in the same go.
    assert await store.sessions.clients_of(session.sid) == [client_id]
    assert await store.interactions.get_live(interaction.id) is None


async def test_held_back_writes_are_written_even_when_no_code_is(services: Services) -> None:
    """A second submission of a consumed interaction stores no code, but the login it
    records did happen: its session and audit rows are written all the same."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    interaction = await add_interaction(services, ["read"])
    assert await store.interactions.delete(interaction.id)
    writes = Writes()
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600, writes=writes
    )

    code_hash, stored = await issue_with(
        services, writes, user_id, client_id, session.id_hash, session.sid, interaction.id
    )

    assert not stored and not writes
    assert await store.codes.get(code_hash) is None
    assert await store.sessions.get_live(session.id_hash) == session


async def test_held_back_writes_are_all_or_nothing_with_the_code(services: Services) -> None:
    """One statement: if any held-back write fails, neither it, the others nor the code
    are written, and the interaction is not consumed."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    interaction = await add_interaction(services, ["read"])
    taken = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
    )
    writes = Writes()
    await store.audit.add(AuditEvent(type="login.success", actor="x", user_id=user_id), writes)
    # The same cookie digest twice: the primary key refuses the held-back session row.
    await store.sessions.add(id_hash=taken.id_hash, user_id=user_id, ttl=600, writes=writes)

    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await issue_with(
            services, writes, user_id, client_id, taken.id_hash, taken.sid, interaction.id
        )

    assert await store.audit.query(user_id=user_id) == []
    assert await store.interactions.get_live(interaction.id) is not None
    assert await store.sessions.clients_of(taken.sid) == []


async def test_flush_sends_what_is_held_back_and_only_once(services: Services) -> None:
    store = services.store
    user_id, _ = await one_code_client(services)
    writes = Writes()
    await store.flush(writes)  # nothing held back: nothing to do
    interaction = await add_interaction(services, ["read"])
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600, writes=writes
    )
    await store.audit.add(AuditEvent(type="login.success", actor="x", user_id=user_id), writes)
    await store.interactions.mark_authenticated(interaction.id, writes)

    assert not writes
    assert await store.sessions.get_live(session.id_hash) == session
    marked = await store.interactions.get_live(interaction.id)
    assert marked is not None and marked.authenticated
    await store.flush(writes)
    assert len(await store.audit.query(user_id=user_id)) == 1


async def test_login_reads_are_what_the_three_separate_reads_give(services: Services) -> None:
    """Issue #8: the login POST reads the interaction (with gates and buttons), the
    throttle records of its keys and the account in one statement; each part is what its
    own read gives, and an absent part comes back empty, not as an error."""
    store = services.store
    access = store.access
    role, gated = unique("role"), unique("gated")
    await access.create_role(role)
    await access.create_scope(gated, required_roles=[role])
    user = await store.users.add(
        username=unique("reader"), email=None, password_hash=None, profile={"given_name": "Ä"}
    )
    interaction = await add_interaction(services, ["openid", gated])
    locked_key, clean_key = throttle.account_key(user.username), throttle.ip_key(unique("ip"))
    await store.throttles.fail(locked_key, window=900)
    await store.throttles.lock(locked_key, clock.now() + 300)
    keys = [locked_key, clean_key]

    reads = await store.interactions.login_state(interaction.id, keys, user.username)

    assert reads.state == await store.interactions.state(interaction.id)
    assert reads.throttle == await store.throttles.state(keys)
    assert reads.throttle.recorded == {locked_key}
    assert reads.account == await store.users.by_username(user.username) == user

    nothing = await store.interactions.login_state("no-such-interaction", [clean_key], None)
    assert nothing.state is None and nothing.account is None
    assert nothing.throttle == await store.throttles.state([clean_key])
    assert nothing.throttle.locked_until == 0 and nothing.throttle.recorded == frozenset()
    unknown = await store.interactions.login_state(interaction.id, [], unique("nobody"))
    assert unknown.state == reads.state and unknown.account is None


async def remembered_code(
    services: Services, scopes: list[str] | None = None
) -> tuple[bytes, User, Session]:
    """A code issued the way a login issues it, kept by this worker: (hash, user, session)."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    user = await store.users.get(user_id)
    assert user is not None
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
    )
    code_hash = digest(new_secret(AUTHORIZATION_CODE_PREFIX))
    assert await store.codes.add(
        code_hash=code_hash,
        client_id=client_id,
        user_id=user_id,
        session_hash=session.id_hash,
        redirect_uri="https://app.example.com/cb",
        redirect_uri_given=True,
        scopes=scopes or ["read"],
        code_challenge="challenge",
        auth_time=session.auth_time,
        ttl=60,
        sid=session.sid,
        amr=["pwd"],
        remember=(user, session.expires_at),
    )
    return code_hash, user, session


async def redeem(services: Services, code_hash: bytes, guarded: bool) -> bool:
    return await services.store.codes.redeem(
        code_hash, access_jti=unique("jti"), access_expires_at=clock.now() + 60,
        refresh=None, guarded=guarded,
    )  # fmt: skip


async def test_a_remembered_code_is_what_reading_it_gives_once(services: Services) -> None:
    """Issue #8: the token request after a login finds the code this worker issued without
    reading it back; what it finds is what ``state`` reads, minus the password hash."""
    code_hash, user, session = await remembered_code(services)

    remembered = services.store.codes.take(code_hash)
    read = await services.store.codes.state(code_hash)

    assert remembered is not None and read is not None
    assert remembered.code == read.code
    assert remembered.session_expires_at == read.session_expires_at == session.expires_at
    assert remembered.gates == read.gates == {}
    assert remembered.user == dataclasses.replace(user, password_hash=None)
    assert services.store.codes.take(code_hash) is None  # once
    assert await redeem(services, code_hash, guarded=True)
    assert not await redeem(services, code_hash, guarded=True)  # single use
    assert not await redeem(services, code_hash, guarded=False)


@pytest.mark.parametrize(
    "change", ["user-disabled", "session-ended", "scope-gated", "code-expired"]
)
async def test_rfc6749_4_1_3_a_remembered_code_redeems_only_if_the_read_would_allow_it(
    services: Services, change: str
) -> None:
    """What the worker remembered may be stale; its redemption checks in the consuming
    statement what ``state`` would have refused on, and consumes nothing if one fails."""
    scope = unique("scope")
    await services.store.access.create_scope(scope)
    code_hash, user, session = await remembered_code(services, ["read", scope])
    if change == "user-disabled":
        await services.store.users.set_disabled(user.id, True)
    elif change == "session-ended":
        await services.store.sessions.delete(session.id_hash)
    elif change == "code-expired":
        async with services.engine.begin() as conn:
            await conn.execute(
                update(authorization_codes)
                .where(authorization_codes.c.code_hash == code_hash)
                .values(expires_at=clock.now() - 1)
            )
    else:
        role = unique("role")
        await services.store.access.create_role(role)
        await services.store.access.set_scope_roles(scope, [role])

    assert not await redeem(services, code_hash, guarded=True)

    state = await services.store.codes.state(code_hash)
    assert state is not None and state.code.consumed_at is None
    if change == "user-disabled":
        assert state.user is not None and state.user.disabled
    elif change == "session-ended":
        assert state.session_ended(clock.now())
    elif change == "code-expired":
        assert state.code.expires_at <= clock.now()
        return  # the read path refuses it (expired), nothing to redeem
    else:
        assert scope in state.gates
    assert await redeem(services, code_hash, guarded=False)  # the read path decides


async def test_remembered_codes_are_bounded_and_expire(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codes_module, "ISSUED_MAX", 3)
    repo = services.store.codes
    hashes = [(await remembered_code(services))[0] for _ in range(5)]
    assert [repo.take(h) is not None for h in hashes] == [False, False, True, True, True]
    old, _, _ = await remembered_code(services)
    monkeypatch.setattr(clock, "now", lambda: int(time.time()) + 61)  # past the code's ttl
    fresh, _, _ = await remembered_code(services)
    assert repo.take(old) is None and repo.take(fresh) is not None
