"""Authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.6,
OIDC Core §3.1.3), on the in-memory store."""

from __future__ import annotations

import pytest

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.services import Services
from ostiary.tokens.id_token import token_hash
from tests.unit.grants.world import (
    CHALLENGE,
    VERIFIER,
    authorize_code,
    exchange,
    exchange_params,
    register_app,
    sign_in,
    token_error,
    verified,
)

pytestmark = pytest.mark.anyio


async def test_rfc6749_s4_1_3_code_is_exchanged_for_a_bearer_token(services: Services) -> None:
    app = await register_app(services)
    alice = await sign_in(services)
    code = await authorize_code(services, app, alice, scope="read offline_access")

    answer = await exchange(services, app, code)

    # RFC 6749 §5.1: access_token, token_type, expires_in; scope and a refresh token.
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == services.settings.tokens.access_token_ttl
    assert answer["scope"] == "offline_access read"
    assert answer["refresh_token"].startswith("ost_rt_")
    access = await verified(services, answer["access_token"], "at+jwt")
    assert (access["sub"], access["client_id"]) == (alice.user.id, app.client_id)
    assert access["scope"] == "offline_access read"
    assert "id_token" not in answer  # no openid scope
    # Stored as digests only, never the values (the code consumed, the token a row).
    stored = services.store.tables.codes[digest(code)]
    assert stored.consumed_at is not None and stored.access_jti == access["jti"]
    assert digest(answer["refresh_token"]) in services.store.tables.refresh_tokens


async def test_oidc_core_s3_1_3_3_token_response_carries_the_id_token(services: Services) -> None:
    app = await register_app(services)
    alice = await sign_in(services)
    code = await authorize_code(services, app, alice, scope="openid profile", nonce="n-42")

    answer = await exchange(services, app, code)

    claims = await verified(services, answer["id_token"], "JWT")
    # OIDC Core §3.1.3.6/§3.1.3.7: who, for whom, the nonce of the request, at_hash.
    assert claims["sub"] == alice.user.id
    assert claims["aud"] == app.client_id
    assert claims["nonce"] == "n-42"
    assert claims["sid"] == alice.session.sid
    assert claims["auth_time"] == alice.session.auth_time
    assert claims["at_hash"] == token_hash(answer["access_token"], "RS256")
    # OIDC Core §11: without offline_access (and a client registered for session-bound
    # refresh tokens) an OpenID request gets no refresh token.
    assert "refresh_token" not in answer


async def test_rfc6749_s4_1_2_code_is_single_use_and_a_replay_revokes_what_it_issued(
    services: Services,
) -> None:
    app = await register_app(services)
    alice = await sign_in(services)
    code = await authorize_code(services, app, alice, scope="openid offline_access")
    first = await exchange(services, app, code)
    access = await verified(services, first["access_token"], "at+jwt")

    replay = await token_error(services, app, **exchange_params(code))

    assert (replay.error, replay.description) == (
        "invalid_grant",
        "authorization code was already used",
    )
    tables = services.store.tables
    # RFC 6749 §4.1.2: SHOULD revoke all tokens previously issued based on that code.
    assert access["jti"] in tables.revoked
    assert tables.refresh_tokens[digest(first["refresh_token"])].revoked_at is not None
    assert tables.codes[digest(code)].replayed_at is not None
    refused = await token_error(
        services, app, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert refused.error == "invalid_grant"
    # The feed tells resource servers about the denied access token.
    assert [(e.kind, e.value) for e in tables.revocation_events] == [("jti", access["jti"])]


async def test_rfc6749_s4_1_3_code_of_another_client_is_invalid(services: Services) -> None:
    """RFC 6749 §4.1.3: ensure the code was issued to the authenticated client; the code
    stays usable by its own client."""
    app, other = await register_app(services), await register_app(services)
    alice = await sign_in(services)
    code = await authorize_code(services, app, alice)

    stolen = await token_error(services, other, **exchange_params(code))

    assert (stolen.error, stolen.description) == ("invalid_grant", "authorization code is invalid")
    assert "access_token" in await exchange(services, app, code)


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        pytest.param({"code": None}, "invalid_request", "code is required", id="s4_1_3-no-code"),
        pytest.param(
            {"code": "ost_ac_unknown"},
            "invalid_grant",
            "authorization code is invalid",
            id="s4_1_3-unknown-code",
        ),
        pytest.param(
            {"redirect_uri": "https://app.example.test/other"},
            "invalid_grant",
            "redirect_uri does not match the authorization request",
            id="s10_6-other-redirect-uri",
        ),
        pytest.param(
            {"redirect_uri": None},
            "invalid_grant",
            "redirect_uri is required",
            id="s4_1_3-redirect-uri-left-out",
        ),
        pytest.param(
            {"code_verifier": None},
            "invalid_grant",
            "code_verifier is required",
            id="rfc7636_s4_5-no-verifier",
        ),
        pytest.param(
            {"code_verifier": "x" * 43},
            "invalid_grant",
            "code_verifier does not match the code_challenge",
            id="rfc7636_s4_6-wrong-verifier",
        ),
    ],
)
async def test_rfc6749_s4_1_3_and_rfc7636_s4_6_token_request_checks(
    services: Services, change: dict[str, str | None], error: str, description: str
) -> None:
    """RFC 6749 §4.1.3 (and §10.6: the redirect URI is the one the code was sent to),
    RFC 7636 §4.6 (the verifier matches the challenge): refused, and the code stays
    unused for the request that gets it right."""
    app = await register_app(services)
    code = await authorize_code(services, app, await sign_in(services))

    refused = await token_error(services, app, **exchange_params(code, **change))

    assert (refused.error, refused.description) == (error, description)
    assert services.store.tables.codes[digest(code)].consumed_at is None
    assert "access_token" in await exchange(services, app, code)


async def test_rfc7636_appendix_b_verifier_redeems_its_challenge(services: Services) -> None:
    app = await register_app(services, public=True)
    code = await authorize_code(services, app, await sign_in(services), code_challenge=CHALLENGE)

    answer = await exchange(services, app, code, code_verifier=VERIFIER)

    assert answer["token_type"] == "Bearer"


async def test_rfc9700_s4_8_2_verifier_without_a_challenge_is_a_downgrade(
    services: Services,
) -> None:
    """RFC 9700 §4.8.2: a code_verifier for a code issued without a challenge is refused."""
    app = await register_app(services)
    code = await authorize_code(
        services, app, await sign_in(services), code_challenge=None, code_challenge_method=None
    )

    refused = await token_error(services, app, **exchange_params(code))

    assert refused.description == "code_verifier sent but no code_challenge was used"
    assert "access_token" in await exchange(services, app, code, code_verifier=None)


async def test_rfc6749_s4_1_2_expired_code_is_refused(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RFC 6749 §4.1.2: a code is short lived (10 minutes at most)."""
    app = await register_app(services)
    code = await authorize_code(services, app, await sign_in(services, ttl=86400))
    later = clock.now() + services.settings.tokens.authorization_code_ttl
    monkeypatch.setattr(clock, "now", lambda: later)

    refused = await token_error(services, app, **exchange_params(code))

    assert (refused.error, refused.description) == (
        "invalid_grant",
        "authorization code has expired",
    )


@pytest.mark.parametrize("gone", ["user-disabled", "user-deleted", "session-ended"])
async def test_oidc_core_s3_1_3_2_code_of_a_gone_user_or_session_is_refused(
    services: Services, gone: str
) -> None:
    """OIDC Core §3.1.3.2: the code must not have been revoked; a disabled or deleted
    user, or a logout ending the session the code was issued in, revokes it."""
    app = await register_app(services)
    alice = await sign_in(services)
    code = await authorize_code(services, app, alice)
    if gone == "user-disabled":
        await services.store.users.set_disabled(alice.user.id, True)
    elif gone == "user-deleted":
        await services.store.users.delete(alice.user.id)
    else:
        await services.store.sessions.delete_sid(alice.session.sid)

    refused = await token_error(services, app, **exchange_params(code))

    assert refused.error == "invalid_grant"


async def test_rfc6749_s3_3_role_gated_scope_is_left_out_without_the_role(
    services: Services,
) -> None:
    """RFC 6749 §3.3: the server may grant less than requested, and says so in scope; a
    scope gated by a role goes only to holders of the role, as they are at redemption."""
    access = services.store.access
    await access.create_role("editor")
    await access.create_scope("write", required_roles=["editor"])
    app = await register_app(services)
    alice, bob = await sign_in(services, "alice"), await sign_in(services, "bob")
    await access.assign(bob.user.id, "editor")
    alices = await authorize_code(services, app, alice, scope="read write")
    bobs = await authorize_code(services, app, bob, scope="read write")

    assert (await exchange(services, app, alices))["scope"] == "read"
    assert (await exchange(services, app, bobs))["scope"] == "read write"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({}, "invalid_request", id="no-grant-type"),
        pytest.param({"grant_type": "password"}, "unsupported_grant_type", id="password"),
        pytest.param(
            {"grant_type": "client_credentials"}, "unauthorized_client", id="grant-not-registered"
        ),
    ],
)
async def test_rfc6749_s5_2_token_endpoint_errors(
    services: Services, params: dict[str, str], error: str
) -> None:
    """RFC 6749 §5.2: the error codes of a refused token request (no implicit, no password
    grant: RFC 9700 §2.4)."""
    app = await register_app(services)

    refused = await token_error(services, app, **params)

    assert (refused.error, refused.status) == (error, 400)


async def test_rfc6749_s5_2_invalid_client_for_a_wrong_secret(services: Services) -> None:
    """RFC 6749 §5.2 invalid_client (401 with Basic): and the failure is audited."""
    app = await register_app(services)
    app.secret = "ost_cs_wrong"

    refused = await token_error(services, app, grant_type="authorization_code", code="x")

    assert (refused.error, refused.status) == ("invalid_client", 401)
    events = await services.store.audit.query(type="client_auth.failure")
    assert [e.client_id for e in events] == [app.client_id]
