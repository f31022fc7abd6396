"""Retention (ostiary.retention.purge) and the pseudonymised audit trail of deleted users.

The purge deletes what can no longer be used: codes an hour past expiry (kept that long so
a late replay is still recognised, RFC 6749 §4.1.2), expired refresh tokens, revoked-token
ids past their token's expiry, expired sessions and interactions, used or expired one-time
tokens, idle unlocked throttles, old back-channel failures and audit events older than the
retention period. Every kind is checked with an expired row and a live one side by side:
the first goes, the second stays. The database is shared with the rest of the run, so the
counts are at least ours, and each row is checked by its own key.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from ostiary import clock, retention
from ostiary.accounts import lifecycle
from ostiary.accounts.mfa import totp
from ostiary.crypto.tokens import digest
from ostiary.domain.audit import AuditEvent
from ostiary.domain.federation import PendingRequest
from ostiary.domain.interactions import Interaction
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.storage.repos.federation_identities import FederationRepository
from ostiary.storage.tables import (
    audit_events,
    authorization_codes,
    backchannel_logout_failures,
    federation_states,
    interactions,
    mfa_factors,
    one_time_tokens,
    refresh_tokens,
    revoked_tokens,
    session_clients,
    sessions,
    throttles,
)
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import (
    authorize_params,
    browser,
    csrf_of,
    login_page,
    make_client,
    pkce_pair,
)

pytestmark = pytest.mark.anyio

DAY = 86400
Travel = Callable[[int], Any]


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Travel:
    """``with travel(-3600):`` runs the block an hour in the past (clock.now is the only
    clock the repositories read)."""
    real = clock.now

    @contextmanager
    def shifted(seconds: int) -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(clock, "now", lambda: real() + seconds)
            yield

    return shifted


async def add_user(services: Services) -> User:
    username = unique("kept")
    return await services.store.users.add(
        username=username, email=f"{username}@example.com", password_hash=None
    )


async def present(services: Services, column: Any, *values: Any) -> set[Any]:
    """Which of ``values`` are still in ``column``."""
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(column).where(column.in_(values)))).all()
    return {row[0] for row in rows}


# -- purge: expired rows go, live rows stay -----------------------------------------------


async def test_purge_removes_each_expired_kind_and_keeps_every_live_row(
    services: Services, travel: Travel
) -> None:
    store, now = services.store, clock.now()
    user = await add_user(services)
    window = services.settings.lockout.window
    tag = secrets.token_hex(4)

    # Authorization codes: gone an hour after expiry, kept until then to catch replays.
    code = {name: digest(f"{tag}-code-{name}") for name in ("stale", "just-expired", "live")}
    for name, ttl in (("stale", -retention.CODE_REPLAY_MEMORY - 60), ("just-expired", -60),
                      ("live", 600)):  # fmt: skip
        await store.codes.add(
            code_hash=code[name], client_id="c", user_id=user.id, session_hash=None,
            redirect_uri="https://app.example.com/cb", redirect_uri_given=True, scopes=[],
            code_challenge=None, auth_time=now, ttl=ttl,
        )  # fmt: skip

    # Refresh tokens: an expired one goes; a live one stays, revoked or not (reuse detection).
    rt = {name: digest(f"{tag}-rt-{name}") for name in ("expired", "live", "revoked")}
    for name, ttl in (("expired", -60), ("live", 3600), ("revoked", 3600)):
        await store.refresh_tokens.add(
            token_hash=rt[name], family_id=f"{tag}-{name}", client_id="c", user_id=user.id,
            scopes=[], auth_time=now, ttl=ttl, access_jti=f"{tag}-{name}",
            access_expires_at=now + 60,
        )  # fmt: skip
    await store.refresh_tokens.revoke_family(f"{tag}-revoked")

    # Revoked access-token ids: needed only until the token itself expires.
    await store.revocations.revoke([(f"{tag}-old-jti", now - 60), (f"{tag}-live-jti", now + 600)])

    # Sessions (and which clients they served).
    old_session = await store.sessions.add(id_hash=digest(f"{tag}-s1"), user_id=user.id, ttl=-60)
    live_session = await store.sessions.add(id_hash=digest(f"{tag}-s2"), user_id=user.id, ttl=3600)
    async with services.engine.begin() as conn:
        await conn.execute(
            insert(session_clients),
            [
                {"sid": session.sid, "client_id": "c", "created_at": now}
                for session in (old_session, live_session)
            ],
        )

    # Interactions (pending logins).
    for name, expires_at in (("old", now - 60), ("live", now + 600)):
        await store.interactions.add(
            Interaction(f"{tag}-{name}", digest("browser"), "c", {}, expires_at)
        )

    # One-time tokens: expired or used ones go; a live unused one stays.
    ott = {name: digest(f"{tag}-ott-{name}") for name in ("expired", "used", "live")}
    for name, ttl in (("expired", -60), ("used", 600), ("live", 600)):
        await store.one_time_tokens.add(
            token_hash=ott[name], user_id=user.id, purpose="reset", ttl=ttl
        )
    assert await store.one_time_tokens.use(ott["used"], "reset") is not None

    # Throttles: an idle counter goes; a recent one and an old one still locked stay.
    key = {name: f"user:{tag}-{name}" for name in ("idle", "recent", "locked")}
    with travel(-window - 60):
        await store.throttles.fail(key["idle"], window=window)
        await store.throttles.fail(key["locked"], window=window)
    await store.throttles.lock(key["locked"], now + 600)
    await store.throttles.fail(key["recent"], window=window)

    # Back-channel logout failures: kept 30 days.
    with travel(-(retention.LOGOUT_FAILURES_DAYS * DAY) - 60):
        await store.logout_failures.add(
            client_id=f"{tag}-old", sid=None, sub="s", error="e", attempts=1
        )
    await store.logout_failures.add(
        client_id=f"{tag}-new", sid=None, sub="s", error="e", attempts=1
    )

    # Audit events: kept for audit.retention_days.
    keep = services.settings.audit.retention_days * DAY
    old_type, kept_type = unique("test.too-old"), unique("test.kept")
    await store.audit.add_many(
        [
            AuditEvent(type=old_type, actor="system", at=now - keep - 60),
            AuditEvent(type=kept_type, actor="system", at=now - keep + 3600),
            AuditEvent(type=kept_type, actor="system", at=now),
        ]
    )

    removed = await retention.purge(services)

    assert removed["authorization_codes"] >= 1
    assert await present(services, authorization_codes.c.code_hash, *code.values()) == {
        code["just-expired"],
        code["live"],
    }
    assert removed["refresh_tokens"] >= 1
    assert await present(services, refresh_tokens.c.token_hash, *rt.values()) == {
        rt["live"],
        rt["revoked"],
    }
    assert removed["revoked_token_ids"] >= 1
    assert await present(services, revoked_tokens.c.jti, f"{tag}-old-jti", f"{tag}-live-jti") == {
        f"{tag}-live-jti"
    }
    assert removed["sessions"] >= 1
    assert await present(services, sessions.c.sid, old_session.sid, live_session.sid) == {
        live_session.sid
    }
    assert await present(services, session_clients.c.sid, old_session.sid, live_session.sid) == {
        live_session.sid
    }
    assert removed["interactions"] >= 1
    assert await present(services, interactions.c.id, f"{tag}-old", f"{tag}-live") == {
        f"{tag}-live"
    }
    assert removed["one_time_tokens"] >= 2
    assert await present(services, one_time_tokens.c.token_hash, *ott.values()) == {ott["live"]}
    assert removed["throttles"] >= 1
    assert await present(services, throttles.c.key, *key.values()) == {
        key["recent"],
        key["locked"],
    }
    assert removed["logout_failures"] >= 1
    assert await present(
        services, backchannel_logout_failures.c.client_id, f"{tag}-old", f"{tag}-new"
    ) == {f"{tag}-new"}
    assert removed["audit_events"] >= 1
    assert await present(services, audit_events.c.type, old_type, kept_type) == {kept_type}
    async with services.engine.connect() as conn:
        kept = (
            await conn.execute(select(audit_events.c.id).where(audit_events.c.type == kept_type))
        ).all()
    assert len(kept) == 2


async def test_purge_twice_removes_nothing_the_first_left_that_is_still_live(
    services: Services,
) -> None:
    """Idempotent: a second run right after the first finds nothing of ours to delete."""
    user = await add_user(services)
    session = await services.store.sessions.add(
        id_hash=digest(unique("s")), user_id=user.id, ttl=3600
    )
    await retention.purge(services)
    await retention.purge(services)
    assert await present(services, sessions.c.sid, session.sid) == {session.sid}


# -- deleted users: their audit trail no longer names them ---------------------------------


def row_text(row: Any) -> str:
    return json.dumps({k: v for k, v in row._mapping.items()}, default=str)


async def events_mentioning(services: Services, *needles: str) -> list[str]:
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(audit_events))).all()
    return [text for text in map(row_text, rows) if any(n in text for n in needles)]


async def test_deleted_users_audit_rows_are_pseudonymised_without_username_or_email(
    services: Services,
) -> None:
    user = await add_user(services)
    assert user.email is not None
    other = await add_user(services)
    audit = services.audit
    await audit.record(
        "login.success", actor=f"user:{user.id}", user_id=user.id, ip="192.0.2.7",
        client_id="c", details={"method": "pwd"},
    )  # fmt: skip
    await audit.record(
        "consent.granted", actor=f"user:{user.id}", user_id=user.id, details={"scope": "read"}
    )
    await audit.record("role.assigned", actor="cli", user_id=user.id, details={"role": "r"})
    await audit.record("login.success", actor=f"user:{other.id}", user_id=other.id)
    before = len(await events_mentioning(services, user.id))
    assert before == 3

    cutoff = await lifecycle.delete(services, user, actor="cli")
    assert cutoff.sessions_ended == 0

    assert await events_mentioning(services, user.id, user.username, user.email) == []
    stand_in = lifecycle.pseudonym(services, user.id)
    assert stand_in.startswith("deleted:")
    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(select(audit_events).where(audit_events.c.user_id == stand_in))
        ).all()
    by_type = {r.type: r for r in rows}
    # The events keep their shape (type, time, client) but not the person or their address.
    assert sorted(r.type for r in rows) == sorted(
        ["login.success", "consent.granted", "role.assigned", "user.deleted"]
    )
    assert all(r.ip is None for r in rows)
    assert by_type["login.success"].actor == f"user:{stand_in}"
    assert by_type["login.success"].client_id == "c"
    assert by_type["role.assigned"].actor == "cli"
    assert by_type["user.deleted"].actor == "cli"
    assert by_type["user.deleted"].details["sessions_ended"] == 0
    # Someone else's events are untouched.
    assert len(await events_mentioning(services, other.id)) == 1


async def test_user_deleted_event_keeps_the_count_of_revoked_refresh_tokens(
    services: Services,
) -> None:
    user = await add_user(services)
    await lifecycle.delete(services, user, actor="cli")
    stand_in = lifecycle.pseudonym(services, user.id)
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                select(audit_events.c.details).where(
                    audit_events.c.user_id == stand_in, audit_events.c.type == "user.deleted"
                )
            )
        ).one()
    assert row.details == {"sessions_ended": 0, "refresh_tokens_revoked": 0}


async def test_deleted_users_failed_login_rows_do_not_keep_the_username(
    services: Services, server: LiveServer
) -> None:
    """A real failed sign-in through the login form, then deletion."""
    user = await add_user(services)
    client = make_client(server)
    _, challenge = pkce_pair()
    with browser(server) as web:
        location, page = login_page(web, authorize_params(client, challenge))
        failed = web.post(
            f"{location}/login",
            data={"csrf": csrf_of(page.text), "username": user.username, "password": "wrong"},
        )
    assert failed.status_code == 401
    assert len(await events_mentioning(services, user.id)) == 1

    await lifecycle.delete(services, user, actor="cli")
    assert await events_mentioning(services, user.id) == []
    assert await events_mentioning(services, user.username) == []


async def test_purge_removes_expired_pending_upstream_logins(services: Services) -> None:
    """A started-but-abandoned upstream login (state, nonce, PKCE verifier) is forgotten."""
    repo = FederationRepository(services.engine)
    now = clock.now()
    state = {name: digest(unique(f"state-{name}")) for name in ("old", "live")}
    for name, expires_at in (("old", now - 60), ("live", now + 600)):
        await repo.add_pending(
            PendingRequest(
                state_hash=state[name], browser_hash=digest("browser"), provider="none",
                nonce="n", code_verifier_sealed=b"sealed", interaction_id=None,
                link_user_id=None, expires_at=expires_at,
            )
        )  # fmt: skip

    removed = await retention.purge(services)

    assert removed["federation_states"] >= 1
    assert await present(services, federation_states.c.state_hash, *state.values()) == {
        state["live"]
    }


async def test_purge_removes_totp_setups_never_confirmed(services: Services) -> None:
    """A second factor's secret that was never confirmed (an abandoned setup) is not kept
    past the setup's time; a setup under way and every confirmed factor stay."""
    user = await services.store.users.add(username=unique("setup"), email=None, password_hash=None)
    factors = services.store.factors
    young, _ = await totp.begin(factors, services.settings, user.id, "young")
    confirmed, _ = await totp.begin(factors, services.settings, user.id, "confirmed")
    await factors.confirm(confirmed, last_step=1)
    # Both older than a setup may take (a new setup would drop the unconfirmed one itself).
    old = await factors.get(young)
    assert old is not None
    long_ago = clock.now() - totp.ENROLMENT_TTL - 5
    await factors.add(dataclasses.replace(old, id=unique("old"), created_at=long_ago))
    async with services.engine.begin() as conn:
        await conn.execute(
            update(mfa_factors).where(mfa_factors.c.id == confirmed).values(created_at=long_ago)
        )

    removed = await retention.purge(services)

    assert removed["unconfirmed_factors"] >= 1
    assert {f.id for f in await factors.for_user(user.id)} == {young, confirmed}
