"""The password-login statements on the driver connection, SQLite and PostgreSQL.

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
from ostiary.domain.codes import AuthorizationCode, CodeState, Refused
from ostiary.domain.interactions import Interaction
from ostiary.domain.sessions import Session
from ostiary.domain.tokens import NewRefreshToken
from ostiary.domain.users import User
from ostiary.federation.providers import Provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.settings import LockoutSettings
from ostiary.storage.repos import audit as audit_repo
from ostiary.storage.repos import codes as codes_module
from ostiary.storage.repos.codes import CodeRepository
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


async def test_a_batch_larger_than_a_slice_is_written_whole_and_in_order(
    services: Services,
) -> None:
    """The audit batch goes out in slices (the event loop runs requests between them);
    every event of every slice is written, in the order raised."""
    user_id = unique("sliced")
    count = audit_repo.BATCH_SLICE * 2 + 3
    batch = [
        AuditEvent(type="token.issued", actor="client:c1", user_id=user_id, details={"n": n})
        for n in range(count)
    ]

    await services.store.audit.add_many(batch)

    rows = await services.store.audit.query(user_id=user_id, limit=count + 1)
    assert [r.details["n"] for r in rows] == list(range(count))


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
    write: of concurrent submissions exactly one stores a code (one round trip)."""
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
        found = await stored_code(services, code_hash or b"-")
        assert (found is not None) == (code_hash in winners)
    assert await store.interactions.get_live(interaction.id) is None
    assert await store.sessions.clients_of(session.sid) == [client_id]

    # Without an interaction (an authorization answered at once): stored, linked once.
    direct = digest(new_secret(AUTHORIZATION_CODE_PREFIX))
    assert await add_code(direct, None)
    assert await stored_code(services, direct) is not None
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
    )
    return code_hash, stored


async def stored_code(services: Services, code_hash: bytes) -> AuthorizationCode | None:
    state = await services.store.codes.state(code_hash)
    return state.code if state is not None else None


async def test_held_back_session_and_audit_rows_are_written_with_the_code(
    services: Services,
) -> None:
    """A password login's session row and login.success event travel with the code's
    write (one round trip); nothing is written before it, everything after it."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    interaction = await add_interaction(services, ["read"])
    async with store.unit_of_work():
        session = await store.sessions.add(
            id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
        )
        await services.audit.record("login.success", actor=f"user:{user_id}", user_id=user_id)
        assert await store.sessions.get_live(session.id_hash) is None
        assert await store.audit.query(user_id=user_id) == []

        code_hash, stored = await issue_with(
            services, user_id, client_id, session.id_hash, session.sid, interaction.id
        )

        assert stored
        assert await store.sessions.get_live(session.id_hash) == session
        assert [e.type for e in await store.audit.query(user_id=user_id)] == ["login.success"]
    assert [e.type for e in await store.audit.query(user_id=user_id)] == ["login.success"]
    assert await stored_code(services, code_hash) is not None
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
    async with store.unit_of_work():
        session = await store.sessions.add(
            id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
        )

        code_hash, stored = await issue_with(
            services, user_id, client_id, session.id_hash, session.sid, interaction.id
        )

        assert not stored
        assert await store.sessions.get_live(session.id_hash) == session
    assert await stored_code(services, code_hash) is None


async def test_held_back_writes_are_all_or_nothing_with_the_code(services: Services) -> None:
    """One statement: if any held-back write fails, neither it, the others nor the code
    are written, and the interaction is not consumed."""
    store = services.store
    user_id, client_id = await one_code_client(services)
    interaction = await add_interaction(services, ["read"])
    taken = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
    )
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with store.unit_of_work():
            await store.audit.add(AuditEvent(type="login.success", actor="x", user_id=user_id))
            # The same cookie digest twice: the primary key refuses the held-back session row.
            await store.sessions.add(id_hash=taken.id_hash, user_id=user_id, ttl=600)
            await issue_with(services, user_id, client_id, taken.id_hash, taken.sid, interaction.id)

    assert await store.audit.query(user_id=user_id) == []
    assert await store.interactions.get_live(interaction.id) is not None
    assert await store.sessions.clients_of(taken.sid) == []


async def test_what_no_statement_carried_is_written_when_the_unit_of_work_ends(
    services: Services,
) -> None:
    """Nothing can forget a held-back write: what no later statement of the block carried
    is written when the block ends, once; outside a block nothing is held back."""
    store = services.store
    user_id, _ = await one_code_client(services)
    async with store.unit_of_work():
        pass  # nothing held back: nothing to write
    async with store.unit_of_work():
        session = await store.sessions.add(
            id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
        )
        await store.audit.add(AuditEvent(type="login.success", actor="x", user_id=user_id))
        assert await store.sessions.get_live(session.id_hash) is None
        assert await store.audit.query(user_id=user_id) == []

    assert await store.sessions.get_live(session.id_hash) == session
    assert [e.type for e in await store.audit.query(user_id=user_id)] == ["login.success"]
    outside = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
    )
    assert await store.sessions.get_live(outside.id_hash) == outside


async def test_held_back_writes_are_written_when_the_block_raises(services: Services) -> None:
    """A login whose later step fails did happen: its events are still written (the
    block's way out by an exception sends what it held back, then the exception goes on)."""
    store = services.store
    user_id, _ = await one_code_client(services)
    with pytest.raises(LookupError):
        async with store.unit_of_work():
            await store.audit.add(AuditEvent(type="login.success", actor="x", user_id=user_id))
            raise LookupError("a later step failed")
    assert [e.type for e in await store.audit.query(user_id=user_id)] == ["login.success"]


async def test_a_carrying_statement_sends_what_is_held_back_only_once(
    services: Services,
) -> None:
    store = services.store
    user_id, _ = await one_code_client(services)
    interaction = await add_interaction(services, ["read"])
    async with store.unit_of_work():
        session = await store.sessions.add(
            id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
        )
        await store.audit.add(AuditEvent(type="login.success", actor="x", user_id=user_id))
        await store.interactions.mark_authenticated(interaction.id)

        assert await store.sessions.get_live(session.id_hash) == session
        marked = await store.interactions.get_live(interaction.id)
        assert marked is not None and marked.authenticated
    assert len(await store.audit.query(user_id=user_id)) == 1


async def test_a_task_outliving_the_unit_of_work_writes_on_its_own(services: Services) -> None:
    """A task started inside the block sees its unit of work; once the block has ended,
    what the task writes goes out at once rather than into a unit already sent."""
    store = services.store
    user_id, _ = await one_code_client(services)
    go_on = asyncio.Event()

    async def later() -> None:
        await go_on.wait()
        await store.audit.add(AuditEvent(type="late", actor="x", user_id=user_id))

    async with store.unit_of_work():
        task = asyncio.create_task(later())
    go_on.set()
    await task
    assert [e.type for e in await store.audit.query(user_id=user_id)] == ["late"]


async def test_login_reads_are_what_the_three_separate_reads_give(services: Services) -> None:
    """The login POST reads the interaction (with gates and buttons), the
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
    services: Services, scopes: list[str] | None = None, codes: CodeRepository | None = None
) -> tuple[bytes, User, Session, str]:
    """A code issued the way a login issues it, kept by this worker: (hash, user, session,
    client id). The user has a password hash, which a remembered code never keeps."""
    store = services.store
    codes = codes or store.codes
    user_id, client_id = await one_code_client(services)
    await store.users.set_password_hash(user_id, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA")
    user = await store.users.get(user_id)
    assert user is not None and user.password_hash is not None
    session = await store.sessions.add(
        id_hash=digest(new_secret(SESSION_PREFIX)), user_id=user_id, ttl=600
    )
    code_hash = digest(new_secret(AUTHORIZATION_CODE_PREFIX))
    assert await codes.add(
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
    return code_hash, user, session, client_id


@dataclasses.dataclass(frozen=True)
class Issued:
    """What a test's redemption issues (``domain.codes.Redemption``): no refresh token."""

    access_jti: str
    access_expires_at: int
    refresh: NewRefreshToken | None = None


class Deciding:
    """A ``decide`` that grants whatever it is shown and keeps the states it was shown."""

    def __init__(self) -> None:
        self.seen: list[CodeState] = []

    async def __call__(self, state: CodeState) -> Issued:
        self.seen.append(state)
        return Issued(unique("jti"), clock.now() + 60)


def remembered(state: CodeState) -> bool:
    """A state the worker remembered, not one read back (which has the password hash)."""
    return state.user is not None and state.user.password_hash is None


async def test_a_remembered_code_is_decided_as_reading_it_would_once(
    services: Services,
) -> None:
    """The token request after a login finds the code this worker issued without reading
    it back; what it decides on is what ``state`` reads, minus the password hash."""
    codes = services.store.codes
    code_hash, user, session, client_id = await remembered_code(services)
    read = await codes.state(code_hash)
    decide = Deciding()

    issued = await codes.redeem(code_hash, client_id, decide)

    assert isinstance(issued, Issued)
    [state] = decide.seen  # one statement: the guarded consumption
    assert read is not None and remembered(state)
    assert state.code == read.code
    assert state.session_expires_at == read.session_expires_at == session.expires_at
    assert state.gates == read.gates == {}
    assert state.user == dataclasses.replace(user, password_hash=None)
    after = await codes.state(code_hash)
    assert after is not None and after.code.access_jti == issued.access_jti
    # Single use: the second request reads the code back and finds it consumed.
    again = Deciding()
    assert await codes.redeem(code_hash, client_id, again) is Refused.REPLAYED
    assert again.seen == []


async def test_rfc6749_4_1_3_a_code_of_another_client_is_unknown_to_it(
    services: Services,
) -> None:
    """Another client's request learns nothing of the code and uses it up nowhere: the
    client it was issued to still redeems it (from the read: it is remembered once)."""
    codes = services.store.codes
    code_hash, _, _, client_id = await remembered_code(services)
    other = Deciding()
    assert await codes.redeem(code_hash, "another-client", other) is Refused.UNKNOWN
    assert await codes.redeem(code_hash, "another-client", other) is Refused.UNKNOWN
    assert await codes.redeem(digest("never-issued"), client_id, other) is Refused.UNKNOWN
    assert other.seen == []
    decide = Deciding()
    assert isinstance(await codes.redeem(code_hash, client_id, decide), Issued)
    assert [remembered(s) for s in decide.seen] == [False]


async def test_rfc6749_4_1_2_of_racing_redemptions_exactly_one_wins(services: Services) -> None:
    """Single use, exact under concurrency: of racing requests one redeems the code and
    the others are told it was replayed."""
    codes = services.store.codes
    code_hash, _, _, client_id = await remembered_code(services)
    results = await asyncio.gather(
        *(codes.redeem(code_hash, client_id, Deciding()) for _ in range(5))
    )
    assert sum(isinstance(r, Issued) for r in results) == 1
    assert [r for r in results if not isinstance(r, Issued)] == [Refused.REPLAYED] * 4


@pytest.mark.parametrize(
    "change", ["user-disabled", "session-ended", "scope-gated", "code-expired"]
)
async def test_rfc6749_4_1_3_a_remembered_code_redeems_only_if_the_read_would_allow_it(
    services: Services, change: str
) -> None:
    """What the worker remembered may be stale; its redemption checks in the consuming
    statement what ``state`` would have refused on, and if one fails, consumes nothing and
    decides again on the code read back."""
    codes = services.store.codes
    scope = unique("scope")
    await services.store.access.create_scope(scope)
    code_hash, user, session, client_id = await remembered_code(services, ["read", scope])
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
    decide = Deciding()

    issued = await codes.redeem(code_hash, client_id, decide)

    first, read = decide.seen
    assert remembered(first) and not remembered(read)
    assert read.code.consumed_at is None  # the guarded statement consumed nothing
    if change == "user-disabled":
        assert read.user is not None and read.user.disabled
    elif change == "session-ended":
        assert read.session_ended(clock.now())
    elif change == "code-expired":
        assert read.code.expires_at <= clock.now()
    else:
        assert scope in read.gates
    # This decide grants anyway (the grant's refuses): the read path's statement consumes.
    assert isinstance(issued, Issued)
    after = await codes.state(code_hash)
    assert after is not None and after.code.access_jti == issued.access_jti


async def test_remembered_codes_are_bounded_and_expire(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codes_module, "ISSUED_MAX", 3)
    repo = CodeRepository(services.engine)
    issued = [await remembered_code(services, codes=repo) for _ in range(5)]

    async def kept(code: tuple[bytes, User, Session, str]) -> bool:
        decide = Deciding()
        assert isinstance(await repo.redeem(code[0], code[3], decide), Issued)
        return remembered(decide.seen[0])

    assert [await kept(code) for code in issued] == [False, False, True, True, True]
    old = await remembered_code(services, codes=repo)
    monkeypatch.setattr(clock, "now", lambda: int(time.time()) + 61)  # past the code's ttl
    fresh = await remembered_code(services, codes=repo)
    assert await kept(fresh)
    # The expired one is not decided from memory; read back, it has expired.
    decide = Deciding()
    await repo.redeem(old[0], old[3], decide)
    assert not remembered(decide.seen[0]) and decide.seen[0].code.expires_at <= clock.now()
