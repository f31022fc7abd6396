"""The whole authorization-code + PKCE flow through the real login and consent pages."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import LiveServer
from tests.e2e.helpers import (
    authorize_params,
    browser,
    login_and_consent,
    make_client,
    make_user,
    obtain_code,
    pkce_pair,
    query_of,
    redeem_code,
)


def test_rfc6749_4_1_code_flow_refresh_revoke_introspect(server: LiveServer) -> None:
    client = make_client(server)
    username = make_user(server)
    code, verifier, params = obtain_code(server, client, username)

    with httpx.Client(base_url=server.base_url) as http:
        response = redeem_code(http, client, code, verifier, params)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        tokens = response.json()
        assert tokens["token_type"] == "Bearer"
        assert tokens["scope"] == "read"
        assert tokens["refresh_token"].startswith("ost_rt_")

        # A resource server checks the JWT against the published JWKS (RFC 9068 §4).
        jwks = KeySet.import_key_set(http.get("/jwks.json").json())
        token = jwt.decode(tokens["access_token"], jwks)
        assert token.header["typ"] == "at+jwt"
        assert token.claims["iss"] == server.base_url
        assert token.claims["client_id"] == client.client_id
        assert token.claims["scope"] == "read"

        rotated = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=client.basic_auth(),
        )
        assert rotated.status_code == 200, rotated.text
        new_refresh = rotated.json()["refresh_token"]
        assert new_refresh != tokens["refresh_token"]

        active = http.post("/introspect", data={"token": new_refresh}, auth=client.basic_auth())
        assert active.json()["active"] is True

        revoked = http.post(
            "/revoke",
            data={"token": new_refresh, "token_type_hint": "refresh_token"},
            auth=client.basic_auth(),
        )
        assert revoked.status_code == 200
        after = http.post("/introspect", data={"token": new_refresh}, auth=client.basic_auth())
        assert after.json() == {"active": False}
        refused = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": new_refresh},
            auth=client.basic_auth(),
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"


def test_public_client_pkce_flow(server: LiveServer) -> None:
    client = make_client(server, public=True, redirect_uris=["http://127.0.0.1/cb"])
    username = make_user(server)
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, redirect_uri="http://127.0.0.1:53124/cb")
    with browser(server) as web:
        response = login_and_consent(web, params, username)
        code = query_of(response.headers["location"])["code"]
        token = web.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client.client_id,
                "redirect_uri": params["redirect_uri"],
                "code_verifier": verifier,
            },
        )
    assert token.status_code == 200, token.text
    assert "refresh_token" in token.json()
