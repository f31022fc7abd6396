"""Ostiary judged by Authlib's client side, over TLS.

``AsyncOAuth2Client`` drives every request (PKCE S256, state, client authentication,
refresh, RFC 7009 revocation, RFC 7662 introspection) and raises on any error response;
Authlib's metadata models check discovery (RFC 8414 §2-§3, OIDC Discovery §3, RP-Initiated
Logout §2.1) and ``authlib.jose`` + ``CodeIDToken`` check ID tokens (OIDC Core §3.1.3.7),
independently of the joserfc code Ostiary signs with.
"""

from __future__ import annotations

import json
import secrets
import ssl
import warnings
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from ostiary.domain.mfa import ACR_MFA, ACR_PWD
from ostiary.domain.users import User
from tests.conftest import LiveServer
from tests.e2e.certified_helpers import TLSFiles, tls_browser, tls_files, tls_server
from tests.e2e.helpers import RegisteredClient, make_client, query_of
from tests.e2e.oidc_helpers import (
    JsonWebKey,
    OpenIDProviderMetadata,
    RPInitiatedMetadata,
    jwt,
    make_oidc_client,
    make_oidc_user,
    visit,
)

with warnings.catch_warnings():
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.jose import JWTClaims
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
    from authlib.oidc.core import CodeIDToken

__all__ = ["tls_files", "tls_server"]  # fixtures used by name below


@pytest.fixture
def op(tls_server: LiveServer) -> LiveServer:
    return tls_server


@pytest.fixture
def tls(tls_files: TLSFiles) -> ssl.SSLContext:
    return tls_files.context()


@pytest.fixture
def metadata(op: LiveServer, tls: ssl.SSLContext) -> dict[str, Any]:
    response = httpx.get(f"{op.base_url}/.well-known/openid-configuration", verify=tls)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def web(op: LiveServer, tls_files: TLSFiles) -> Iterator[httpx.Client]:
    with tls_browser(op, tls_files) as client:
        yield client


def oauth_client(
    registered: RegisteredClient,
    tls: ssl.SSLContext,
    *,
    scope: str | None = None,
    auth_method: str | None = None,
) -> AsyncOAuth2Client:
    method = auth_method or ("client_secret_basic" if registered.secret else "none")
    return AsyncOAuth2Client(
        client_id=registered.client_id,
        client_secret=registered.secret,
        scope=scope,
        redirect_uri=registered.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        timeout=30,
        verify=tls,
    )


async def key_set(metadata: dict[str, Any], tls: ssl.SSLContext) -> Any:
    async with httpx.AsyncClient(verify=tls, timeout=30) as http:
        response = await http.get(metadata["jwks_uri"])
    assert response.status_code == 200, response.text
    return JsonWebKey.import_key_set(response.json())


async def validated_id_token(
    metadata: dict[str, Any],
    tls: ssl.SSLContext,
    client_id: str,
    token: dict[str, Any],
    nonce: str | None,
    **options: dict[str, Any],
) -> CodeIDToken:
    """OIDC Core §3.1.3.7 by Authlib: signature, iss, aud, azp, exp, iat, nonce, at_hash.

    ``options`` are further Authlib claims options, e.g. step 12's check of the acr asked for.
    """
    params: dict[str, Any] = {"client_id": client_id, "access_token": token["access_token"]}
    if nonce is not None:
        params["nonce"] = nonce
    claims = jwt.decode(
        token["id_token"],
        key=await key_set(metadata, tls),
        claims_cls=CodeIDToken,
        claims_options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": client_id},
            **options,
        },
        claims_params=params,
    )
    claims.validate()
    return claims


async def code_flow(
    client: AsyncOAuth2Client,
    metadata: dict[str, Any],
    web: httpx.Client,
    user: User,
    pages: list[str] | None = None,
    **extra: str,
) -> tuple[dict[str, Any], str]:
    """Authorize through the real pages; Authlib checks state and redeems with the verifier.

    Returns the token response and the nonce sent; the OP pages shown go to ``pages``.
    """
    nonce = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
    )
    assert "code_challenge_method=S256" in url
    journey = await anyio.to_thread.run_sync(lambda: visit(web, url, user.username))
    if pages is not None:
        pages.extend(journey.pages)
    # RFC 9207 §2.4: Authlib has no iss check of its own; the RP compares it exactly.
    assert query_of(journey.location)["iss"] == metadata["issuer"]
    token = await client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=journey.location,
        state=state,
        code_verifier=verifier,
    )
    return dict(token), nonce


# -- discovery ----------------------------------------------------------------------------


def test_discovery_3_and_rfc8414_2_metadata_validated_by_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any]
) -> None:
    # OIDC Discovery §3 (+ RFC 8414 §2 rules it inherits: https, no query or fragment).
    # RP-Initiated Logout §2.1: end_session_endpoint, https too.
    OpenIDProviderMetadata(metadata).validate(metadata_classes=[RPInitiatedMetadata])
    assert metadata["issuer"] == op.base_url
    # RFC 8414 §3: the OAuth metadata at its own well-known path, same issuer.
    response = httpx.get(f"{op.base_url}/.well-known/oauth-authorization-server", verify=tls)
    assert response.status_code == 200, response.text
    oauth = response.json()
    AuthorizationServerMetadata(oauth).validate()
    assert oauth["issuer"] == op.base_url
    assert oauth["token_endpoint"] == metadata["token_endpoint"]


# -- OIDC Core §3.1 with PKCE --------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_core_3_1_3_7_id_token_validated_by_authlib(
    op: LiveServer,
    tls: ssl.SSLContext,
    metadata: dict[str, Any],
    web: httpx.Client,
    auth_method: str,
) -> None:
    registered = make_oidc_client(op, auth_method=auth_method)
    user = make_oidc_user(op)
    async with oauth_client(
        registered, tls, scope="openid email", auth_method=auth_method
    ) as client:
        token, nonce = await code_flow(client, metadata, web, user)
    assert token["token_type"].lower() == "bearer"
    claims = await validated_id_token(metadata, tls, registered.client_id, token, nonce)
    assert claims["sub"] == user.id
    assert claims["nonce"] == nonce
    assert "at_hash" in claims  # and Authlib checked it against the access token


@pytest.mark.anyio
@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
async def test_core_3_1_3_7_id_token_signing_alg_verified_by_authlib(
    op: LiveServer,
    tls: ssl.SSLContext,
    metadata: dict[str, Any],
    web: httpx.Client,
    alg: str,
) -> None:
    """OIDC Registration §2 id_token_signed_response_alg; at_hash with that alg's hash."""
    assert alg in metadata["id_token_signing_alg_values_supported"]
    registered = make_oidc_client(op, id_token_signed_response_alg=alg)
    async with oauth_client(registered, tls, scope="openid") as client:
        token, nonce = await code_flow(client, metadata, web, make_oidc_user(op))
    claims = await validated_id_token(metadata, tls, registered.client_id, token, nonce)
    assert claims.header["alg"] == alg
    assert "at_hash" in claims


@pytest.mark.anyio
async def test_rfc7636_4_public_client_pkce_s256_by_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op, public=True)
    user = make_oidc_user(op)
    async with oauth_client(registered, tls, scope="openid") as client:
        token, nonce = await code_flow(client, metadata, web, user)
    claims = await validated_id_token(metadata, tls, registered.client_id, token, nonce)
    assert claims["sub"] == user.id


@pytest.mark.anyio
async def test_rfc7636_4_6_wrong_verifier_is_refused_for_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op, public=True)
    user = make_oidc_user(op)
    async with oauth_client(registered, tls, scope="openid") as client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=secrets.token_urlsafe(48)
        )
        journey = await anyio.to_thread.run_sync(lambda: visit(web, url, user.username))
        with pytest.raises(OAuthError) as refused:
            await client.fetch_token(
                metadata["token_endpoint"],
                authorization_response=journey.location,
                state=state,
                code_verifier=secrets.token_urlsafe(48),
            )
    assert refused.value.error == "invalid_grant"


# -- RFC 6749 §4.4 client credentials (RFC 9068 access token) ------------------------------


@pytest.mark.anyio
async def test_rfc6749_4_4_client_credentials_by_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any]
) -> None:
    service = make_client(op, redirect_uris=[], grant_types=["client_credentials"])
    async with oauth_client(service, tls, scope="read") as client:
        token = await client.fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials"
        )
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "read"
    assert "refresh_token" not in token  # RFC 6749 §4.4.3: SHOULD NOT be included
    assert "id_token" not in token
    # RFC 9068 §2.1 / §4: a JWT with typ at+jwt, verified by authlib.jose against the JWKS.
    claims = jwt.decode(
        token["access_token"],
        key=await key_set(metadata, tls),
        claims_cls=JWTClaims,
        claims_options={
            "iss": {"essential": True, "value": metadata["issuer"]},
            "sub": {"essential": True, "value": service.client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "jti": {"essential": True},
        },
    )
    claims.validate()
    assert claims.header["typ"].lower() in ("at+jwt", "application/at+jwt")
    assert claims["client_id"] == service.client_id


# -- RFC 7009 / RFC 7662 -------------------------------------------------------------------


@pytest.mark.anyio
async def test_rfc7009_2_and_rfc7662_2_revocation_seen_by_introspection_through_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    resource = make_client(op, redirect_uris=[], grant_types=["client_credentials"])
    user = make_oidc_user(op)
    async with oauth_client(registered, tls, scope="openid offline_access") as client:
        token, _ = await code_flow(client, metadata, web, user)
    async with oauth_client(resource, tls) as introspector:
        before = await introspector.introspect_token(
            metadata["introspection_endpoint"], token=token["access_token"]
        )
        assert before.status_code == 200, before.text
        active = before.json()
        # RFC 7662 §2.2: active, with the token's client, subject and scope.
        assert active["active"] is True
        assert active["client_id"] == registered.client_id
        assert active["sub"] == user.id
        assert set(active["scope"].split()) == {"openid", "offline_access"}
        assert active["exp"] > active["iat"]

    async with oauth_client(registered, tls) as client:
        revoked = await client.revoke_token(
            metadata["revocation_endpoint"],
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200, revoked.text
        # RFC 7009 §2.2: an unknown token is not an error either.
        unknown = await client.revoke_token(
            metadata["revocation_endpoint"], token=secrets.token_urlsafe(32)
        )
        assert unknown.status_code == 200, unknown.text
        # RFC 7009 §2.1: revoking the refresh token takes its access tokens with it...
        with pytest.raises(OAuthError) as refused:
            await client.refresh_token(
                metadata["token_endpoint"], refresh_token=token["refresh_token"]
            )
        assert refused.value.error == "invalid_grant"
    async with oauth_client(resource, tls) as introspector:
        after = await introspector.introspect_token(
            metadata["introspection_endpoint"], token=token["access_token"]
        )
        # ...and RFC 7662 §2.2: an inactive token reveals nothing else.
        assert after.json() == {"active": False}
        refresh = await introspector.introspect_token(
            metadata["introspection_endpoint"],
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert refresh.json() == {"active": False}


# -- RFC 9700 §4.14.2 refresh token rotation -----------------------------------------------


@pytest.mark.anyio
async def test_rfc9700_4_14_2_refresh_rotation_observed_by_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    user = make_oidc_user(op)
    async with oauth_client(registered, tls, scope="openid offline_access") as client:
        token, _ = await code_flow(client, metadata, web, user)
        seen = [token["refresh_token"]]
        for _ in range(3):
            renewed = await client.refresh_token(metadata["token_endpoint"], refresh_token=seen[-1])
            # OIDC Core §12.2: a refreshed ID token is validated like the first one.
            claims = await validated_id_token(
                metadata, tls, registered.client_id, dict(renewed), nonce=None
            )
            assert claims["sub"] == user.id
            assert renewed["refresh_token"] not in seen
            seen.append(renewed["refresh_token"])
        # The one before the last was rotated away: replaying it is invalid_grant...
        with pytest.raises(OAuthError) as replay:
            await client.refresh_token(metadata["token_endpoint"], refresh_token=seen[-2])
        assert replay.value.error == "invalid_grant"
        # ...and the reuse revoked the whole family, the newest token included.
        with pytest.raises(OAuthError) as family:
            await client.refresh_token(metadata["token_endpoint"], refresh_token=seen[-1])
        assert family.value.error == "invalid_grant"


# -- OIDC Core §5.5.1.1: essential acr -----------------------------------------------------


def essential_acr(*values: str) -> str:
    return json.dumps({"id_token": {"acr": {"essential": True, "values": list(values)}}})


@pytest.mark.anyio
async def test_core_5_5_1_1_essential_acr_met_by_a_fresh_login_checked_by_authlib(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    assert metadata["claims_parameter_supported"] is True
    assert ACR_PWD in metadata["acr_values_supported"]
    registered = make_oidc_client(op)
    async with oauth_client(registered, tls, scope="openid") as client:
        token, nonce = await code_flow(
            client, metadata, web, make_oidc_user(op), claims=essential_acr(ACR_PWD)
        )
    # §3.1.3.7 step 12: Authlib checks the acr is one of the values asked for.
    claims = await validated_id_token(
        metadata,
        tls,
        registered.client_id,
        token,
        nonce,
        acr={"essential": True, "values": [ACR_PWD]},
    )
    assert claims["acr"] == ACR_PWD


@pytest.mark.anyio
async def test_core_5_5_1_1_essential_acr_met_by_the_sso_session_asks_nothing(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    user = make_oidc_user(op)
    async with oauth_client(registered, tls, scope="openid") as client:
        await code_flow(client, metadata, web, user)  # signs in: the browser has a session
        pages: list[str] = []
        token, nonce = await code_flow(
            client, metadata, web, user, pages=pages, claims=essential_acr(ACR_PWD, ACR_MFA)
        )
    # The password session meets one of the values asked for: no page, and the acr is
    # one of them (it MUST NOT be outside them).
    claims = await validated_id_token(
        metadata,
        tls,
        registered.client_id,
        token,
        nonce,
        acr={"essential": True, "values": [ACR_PWD, ACR_MFA]},
    )
    assert pages == []
    assert claims["acr"] == ACR_PWD


@pytest.mark.anyio
async def test_core_5_5_1_1_unsatisfiable_essential_acr_fails_the_authentication(
    op: LiveServer, tls: ssl.SSLContext, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    user = make_oidc_user(op)
    async with oauth_client(registered, tls, scope="openid") as client:
        url, state = client.create_authorization_url(
            metadata["authorization_endpoint"],
            code_verifier=secrets.token_urlsafe(48),
            nonce=secrets.token_urlsafe(16),
            claims=essential_acr("urn:example:loa:4"),
        )
    journey = await anyio.to_thread.run_sync(lambda: visit(web, url, user.username))
    query = query_of(journey.location)
    assert "code" not in query, "a code was issued for an authentication that failed §5.5.1.1"
    # OpenID Connect Core Unmet Authentication Requirements 1.0 §2 names the error.
    assert query.get("error") in {"unmet_authentication_requirements", "access_denied"}
    assert query["state"] == state
    assert query["iss"] == metadata["issuer"]
