"""Refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2),
on the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.services import Services
from tests.unit.grants.world import (
    App,
    authorize_code,
    exchange,
    register_app,
    sign_in,
    token,
    token_error,
    verified,
)

pytestmark = pytest.mark.anyio


async def _granted(
    services: Services, scope: str = "openid read write offline_access", **spec: Any
) -> tuple[App, dict[str, Any]]:
    """A client and the first token response of a code flow for alice."""
    app = await register_app(services, **spec)
    code = await authorize_code(services, app, await sign_in(services), scope=scope)
    return app, await exchange(services, app, code)


async def _refresh(services: Services, app: App, refresh_token: str, **params: str) -> Any:
    return await token(
        services, app, grant_type="refresh_token", refresh_token=refresh_token, **params
    )


async def test_rfc6749_s6_refresh_rotates_the_token_rfc9700_s2_2_2(services: Services) -> None:
    app, first = await _granted(services)

    second = await _refresh(services, app, first["refresh_token"])

    # RFC 9700 §4.14.2: a new refresh token each time; the old one is spent.
    assert second["refresh_token"] != first["refresh_token"]
    tables = services.store.tables
    old = tables.refresh_tokens[digest(first["refresh_token"])]
    new = tables.refresh_tokens[digest(second["refresh_token"])]
    assert old.used_at is not None and new.used_at is None
    assert new.family_id == old.family_id
    assert second["scope"] == first["scope"]
    access = await verified(services, second["access_token"], "at+jwt")
    assert access["jti"] == new.access_jti
    third = await _refresh(services, app, second["refresh_token"])
    assert "access_token" in third


async def test_rfc9700_s4_14_2_reuse_revokes_the_whole_family(services: Services) -> None:
    app, first = await _granted(services)
    second = await _refresh(services, app, first["refresh_token"])

    reuse = await token_error(
        services, app, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )

    assert (reuse.error, reuse.description) == (
        "invalid_grant",
        "refresh token was already used; its grant is revoked",
    )
    # The legitimate holder's current token dies with it, and its access tokens are denied.
    current = await token_error(
        services, app, grant_type="refresh_token", refresh_token=second["refresh_token"]
    )
    assert (current.error, current.description) == ("invalid_grant", "refresh token was revoked")
    denied = services.store.tables.revoked
    for response in (first, second):
        assert (await verified(services, response["access_token"], "at+jwt"))["jti"] in denied
    events = await services.store.audit.query(type="refresh_token.reuse_detected")
    assert [(e.client_id, e.outcome) for e in events] == [(app.client_id, "failure")]


async def test_rfc6749_s6_narrower_scope_and_the_original_scope_kept(services: Services) -> None:
    """RFC 6749 §6: a narrower scope may be asked for; the new refresh token still carries
    the original scope, so a later refresh may ask for all of it again."""
    app, first = await _granted(services)

    narrow = await _refresh(services, app, first["refresh_token"], scope="read")
    again = await _refresh(services, app, narrow["refresh_token"])

    assert narrow["scope"] == "read"
    assert again["scope"] == "offline_access openid read write"


async def test_rfc6749_s6_scope_beyond_the_original_is_invalid_scope(services: Services) -> None:
    app, first = await _granted(services, scope="openid read offline_access")

    refused = await token_error(
        services,
        app,
        grant_type="refresh_token",
        refresh_token=first["refresh_token"],
        scope="write",
    )

    assert refused.error == "invalid_scope"
    # The token is not spent by a refused request.
    assert "access_token" in await _refresh(services, app, first["refresh_token"])


async def test_rfc6749_s6_token_of_another_client_is_invalid(services: Services) -> None:
    """RFC 6749 §6: the refresh token was issued to the authenticated client."""
    app, first = await _granted(services)
    other = await register_app(services)

    refused = await token_error(
        services, other, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )

    assert (refused.error, refused.description) == ("invalid_grant", "refresh token is invalid")
    assert "access_token" in await _refresh(services, app, first["refresh_token"])


@pytest.mark.parametrize(
    ("cut", "description"),
    [
        pytest.param("family-revoked", "refresh token was revoked", id="rfc7009-revoked"),
        pytest.param("client-reset", "refresh token was revoked", id="client-tokens-invalidated"),
        pytest.param("expired", "refresh token has expired", id="expired"),
        pytest.param("user-disabled", "the user is no longer active", id="user-disabled"),
        pytest.param("user-deleted", "refresh token is invalid", id="user-deleted"),
    ],
)
async def test_rfc6749_s5_2_invalid_grant_for_a_dead_refresh_token(
    services: Services, monkeypatch: pytest.MonkeyPatch, cut: str, description: str
) -> None:
    """RFC 6749 §5.2 invalid_grant: the refresh token is expired, revoked, or its grant
    gone (its user disabled or deleted, its client's tokens invalidated)."""
    app, first = await _granted(services)
    stored = services.store.tables.refresh_tokens[digest(first["refresh_token"])]
    store = services.store
    if cut == "family-revoked":
        await store.refresh_tokens.revoke_family(stored.family_id)
    elif cut == "client-reset":
        await store.clients.invalidate_tokens(app.client_id)
    elif cut == "expired":
        later = stored.expires_at
        monkeypatch.setattr(clock, "now", lambda: later)
    elif cut == "user-disabled":
        await store.users.set_disabled(stored.user_id or "", True)
    else:
        await store.users.delete(stored.user_id or "")

    refused = await token_error(
        services, app, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )

    assert (refused.error, refused.description) == ("invalid_grant", description)


async def test_oidc_core_s11_session_bound_token_dies_with_its_session(services: Services) -> None:
    """OIDC Core §11: a refresh token without offline_access is bound to the SSO session
    (for a client registered for such tokens); a logout ends it and revokes its family."""
    app = await register_app(services, session_refresh_tokens=True)
    alice = await sign_in(services)
    code = await authorize_code(services, app, alice, scope="openid read")
    first = await exchange(services, app, code)
    assert services.store.tables.refresh_tokens[digest(first["refresh_token"])].sid == (
        alice.session.sid
    )
    await services.store.sessions.delete_sid(alice.session.sid)

    refused = await token_error(
        services, app, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )

    assert refused.description == "the session of this refresh token has ended"
    assert services.store.tables.refresh_tokens[digest(first["refresh_token"])].revoked_at


async def test_oidc_core_s12_2_refreshed_id_token_keeps_sub_and_auth_time_without_nonce(
    services: Services,
) -> None:
    app, first = await _granted(services)
    before = await verified(services, first["id_token"], "JWT")

    second = await _refresh(services, app, first["refresh_token"])

    after = await verified(services, second["id_token"], "JWT")
    assert (after["sub"], after["auth_time"], after["aud"]) == (
        before["sub"],
        before["auth_time"],
        before["aud"],
    )
    assert "nonce" in before and "nonce" not in after


async def test_rfc6749_s3_3_role_taken_away_takes_its_scope_at_the_next_refresh(
    services: Services,
) -> None:
    access = services.store.access
    await access.create_role("editor")
    await access.create_scope("write", required_roles=["editor"])
    app = await register_app(services)
    alice = await sign_in(services)
    await access.assign(alice.user.id, "editor")
    code = await authorize_code(services, app, alice, scope="read write offline_access")
    first = await exchange(services, app, code)
    assert first["scope"] == "offline_access read write"

    await access.unassign(alice.user.id, "editor")
    second = await _refresh(services, app, first["refresh_token"])

    assert second["scope"] == "offline_access read"


async def test_rfc6749_s6_refresh_token_is_required(services: Services) -> None:
    app = await register_app(services)

    refused = await token_error(services, app, grant_type="refresh_token")

    assert (refused.error, refused.description) == ("invalid_request", "refresh_token is required")
