"""Ostiary judged by oauthlib through requests-oauthlib's ``OAuth2Session``, over TLS.

oauthlib parses every RFC 6749 response itself and strictly: it refuses plain http
(RFC 6749 §3.1 / §10.9), checks ``state`` (§10.12), requires ``access_token`` and
``token_type`` (§5.1), raises if the granted scope differs from the one asked for without
the response saying so (§5.1, ``scope``), and turns every §4.1.2.1 / §5.2 error code
into its own exception class. OAuth only: it knows nothing of ID tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidScopeError,
)
from requests_oauthlib import OAuth2Session

from ostiary.domain.users import User
from tests.conftest import LiveServer
from tests.e2e.certified_helpers import TLSFiles, tls_browser, tls_files, tls_server
from tests.e2e.helpers import RegisteredClient, make_client
from tests.e2e.oidc_helpers import make_oidc_client, make_oidc_user, visit

__all__ = ["tls_files", "tls_server"]  # fixtures used by name below


@pytest.fixture
def op(tls_server: LiveServer) -> LiveServer:
    return tls_server


@pytest.fixture
def metadata(op: LiveServer, tls_files: TLSFiles) -> dict[str, Any]:
    response = httpx.get(
        f"{op.base_url}/.well-known/oauth-authorization-server", verify=tls_files.context()
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def ca(tls_files: TLSFiles) -> str:
    # Passed on every call: requests prefers REQUESTS_CA_BUNDLE over a session's verify.
    return str(tls_files.ca)


@pytest.fixture
def web(op: LiveServer, tls_files: TLSFiles) -> Iterator[httpx.Client]:
    with tls_browser(op, tls_files) as client:
        yield client


def session(registered: RegisteredClient, scope: list[str]) -> OAuth2Session:
    return OAuth2Session(
        registered.client_id, redirect_uri=registered.redirect_uri, scope=scope, pkce="S256"
    )


def authorize(
    http: OAuth2Session,
    metadata: dict[str, Any],
    web: httpx.Client,
    user: User,
    decision: str = "allow",
) -> str:
    """The callback URL the browser is sent to, after the real login and consent pages."""
    url, _ = http.authorization_url(
        metadata["authorization_endpoint"], nonce=secrets.token_urlsafe(8)
    )
    assert "code_challenge_method=S256" in url
    return visit(web, url, user.username, decision=decision).location


def test_rfc6749_4_1_code_flow_with_pkce_parsed_by_oauthlib(
    op: LiveServer, ca: str, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    with session(registered, ["openid", "email"]) as http:
        location = authorize(http, metadata, web, make_oidc_user(op))
        # client_secret_basic (requests-oauthlib's default with a secret); oauthlib checks
        # the state, then token_type, access_token and that the scope is the one asked for.
        token = http.fetch_token(
            metadata["token_endpoint"],
            authorization_response=location,
            client_secret=registered.secret,
            verify=ca,
        )
    assert token["token_type"].lower() == "bearer"
    assert set(token["scope"]) == {"openid", "email"}
    assert token["expires_in"] > 0
    assert "id_token" in token


def test_rfc6749_4_1_2_1_denied_consent_is_access_denied_for_oauthlib(
    op: LiveServer, ca: str, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    with session(registered, ["openid"]) as http:
        location = authorize(http, metadata, web, make_oidc_user(op), decision="deny")
        with pytest.raises(AccessDeniedError):
            http.fetch_token(
                metadata["token_endpoint"],
                authorization_response=location,
                client_secret=registered.secret,
                verify=ca,
            )


def test_rfc6749_6_refresh_and_replay_parsed_by_oauthlib(
    op: LiveServer, ca: str, metadata: dict[str, Any], web: httpx.Client
) -> None:
    registered = make_oidc_client(op)
    with session(registered, ["openid", "offline_access"]) as http:
        location = authorize(http, metadata, web, make_oidc_user(op))
        first = http.fetch_token(
            metadata["token_endpoint"],
            authorization_response=location,
            client_secret=registered.secret,
            verify=ca,
        )
        renewed = http.refresh_token(
            metadata["token_endpoint"],
            refresh_token=first["refresh_token"],
            auth=registered.basic_auth(),
            verify=ca,
        )
        # §6: the refreshed scope is the original one (oauthlib raises otherwise).
        assert set(renewed["scope"]) == {"openid", "offline_access"}
        assert renewed["refresh_token"] != first["refresh_token"]  # RFC 9700 §4.14.2
        with pytest.raises(InvalidGrantError):
            http.refresh_token(
                metadata["token_endpoint"],
                refresh_token=first["refresh_token"],
                auth=registered.basic_auth(),
                verify=ca,
            )


def test_rfc6749_4_4_client_credentials_parsed_by_oauthlib(
    op: LiveServer, ca: str, metadata: dict[str, Any]
) -> None:
    service = make_client(op, redirect_uris=[], grant_types=["client_credentials"])
    with OAuth2Session(client=BackendApplicationClient(client_id=service.client_id)) as http:
        token = http.fetch_token(
            metadata["token_endpoint"], client_secret=service.secret, scope=["read"], verify=ca
        )
    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == ["read"]
    assert "refresh_token" not in token  # §4.4.3: SHOULD NOT be included


def test_rfc6749_5_2_error_codes_mapped_by_oauthlib(
    op: LiveServer, ca: str, metadata: dict[str, Any]
) -> None:
    service = make_client(op, redirect_uris=[], grant_types=["client_credentials"])
    with OAuth2Session(client=BackendApplicationClient(client_id=service.client_id)) as http:
        with pytest.raises(InvalidClientError) as wrong_secret:
            http.fetch_token(metadata["token_endpoint"], client_secret="not-the-secret", verify=ca)
        # §5.2: 401 for a client that authenticated with the Authorization header.
        assert wrong_secret.value.status_code == 401
        with pytest.raises(InvalidScopeError):
            http.fetch_token(
                metadata["token_endpoint"],
                client_secret=service.secret,
                scope=["admin"],
                verify=ca,
            )
