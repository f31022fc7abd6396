"""Signed request objects (RFC 9101, OIDC Core §6.1) against a real server: Authlib's JOSE
code signs the request object with the client's RSA or EC key, a browser signs in through
/authorize with nothing but client_id and the request object, and Authlib's OAuth 2.0
client redeems the code; the same object pushed to /par (RFC 9126 §3). The refused cases
are objects Authlib signs with one rule broken each."""

from __future__ import annotations

import base64
import json
import secrets
import time
import warnings
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.e2e.helpers import (
    RegisteredClient,
    browser,
    login_and_consent,
    make_client,
    make_user,
    pkce_pair,
    query_of,
)

with warnings.catch_warnings():
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.jose import JsonWebKey, jwt
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

REDIRECT = "https://app.example.com/callback"


def new_key(kty: str = "RSA") -> Any:
    size_or_curve = 2048 if kty == "RSA" else "P-256"
    return JsonWebKey.generate_key(kty, size_or_curve, {"kid": secrets.token_hex(4)}, True)


def register(server: LiveServer, key: Any | None, **spec: Any) -> RegisteredClient:
    """A confidential client of the code flow, ``key``'s public half registered (if any)."""
    values: dict[str, Any] = {
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "read"],
        "redirect_uris": [REDIRECT],
    }
    if key is not None:
        values["jwks"] = {"keys": [key.as_dict(is_private=False)]}
    values.update(spec)
    return make_client(server, **values)


def request_object(
    server: LiveServer,
    client: RegisteredClient,
    key: Any,
    challenge: str,
    *,
    alg: str = "RS256",
    **claims: Any,
) -> str:
    """The client's authorization request as a signed request object (RFC 9101 §4)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": client.client_id,
        "aud": server.base_url,
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid read",
        "state": "object-state",
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    header = {"alg": alg, "kid": key.kid, "typ": "oauth-authz-req+jwt"}
    return jwt.encode(header, payload, key).decode()


def unsigned(payload: dict[str, Any]) -> str:
    """alg none, made by hand: no JOSE library signs one, which is the point."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "none"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


def by_value(client: RegisteredClient, signed: str) -> dict[str, str]:
    """RFC 9101 §5: the authorization request is client_id and the request object."""
    return {"client_id": client.client_id, "request": signed}


def redeem(
    server: LiveServer, client: RegisteredClient, code: str, verifier: str
) -> dict[str, Any]:
    with OAuth2Client(client.client_id, client.secret, redirect_uri=REDIRECT, timeout=30) as oauth:
        token: dict[str, Any] = oauth.fetch_token(
            f"{server.base_url}/token",
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
        )
    return token


def page(response: httpx.Response, error: str) -> None:
    """An error page naming ``error``, no redirect to any client (RFC 6749 §4.1.2.1)."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert error in response.text


def redirected_error(response: httpx.Response, error: str) -> dict[str, str]:
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(REDIRECT + "?")
    query = query_of(response.headers["location"])
    assert query["error"] == error
    return query


# -- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize(("kty", "alg"), [("RSA", "RS256"), ("RSA", "PS256"), ("EC", "ES256")])
def test_rfc9101_full_flow_request_object_sign_in_code_token(
    server: LiveServer, kty: str, alg: str
) -> None:
    """§5 (by value), §6.2, §6.3: only client_id and the object in the URL; the code
    carries the object's state and is redeemed with its redirect URI and PKCE verifier."""
    key = new_key(kty)
    client = register(server, key)
    username = make_user(server)
    verifier, challenge = pkce_pair()
    signed = request_object(server, client, key, challenge, alg=alg)

    with browser(server) as web:
        answer = login_and_consent(web, by_value(client, signed), username)
    assert answer.status_code == 303, answer.text
    query = query_of(answer.headers["location"])
    token = redeem(server, client, query["code"], verifier)

    assert answer.headers["location"].startswith(REDIRECT + "?")
    assert query["state"] == "object-state" and query["iss"] == server.base_url
    assert token["scope"] == "openid read" and token["id_token"]


def test_rfc9126_3_request_object_pushed_with_private_key_jwt(server: LiveServer) -> None:
    """RFC 9126 §3: the client authenticates with private_key_jwt and pushes nothing but the
    request object (client_id is in it); the browser goes with the request_uri; one key
    signs both the assertion and the object. A client held to signed request objects."""
    key = new_key()
    client = register(
        server, key, auth_method="private_key_jwt", require_signed_request_object=True
    )
    username = make_user(server)
    verifier, challenge = pkce_pair()
    par_url = f"{server.base_url}/par"

    def short() -> dict[str, int]:
        # Authlib's assertions live an hour unless told; Ostiary takes five minutes at most.
        return {"exp": int(time.time()) + 120}

    pusher = PrivateKeyJWT(par_url, claims=short())
    with OAuth2Client(
        client.client_id, key.as_pem(is_private=True), token_endpoint_auth_method=pusher
    ) as oauth:
        pushed = oauth.post(
            par_url,
            data={"request": request_object(server, client, key, challenge)},
            auth=oauth.client_auth(pusher),
        )
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    with browser(server) as web:
        answer = login_and_consent(
            web, {"client_id": client.client_id, "request_uri": request_uri}, username
        )
    query = query_of(answer.headers["location"])
    redeemer = PrivateKeyJWT(f"{server.base_url}/token", claims=short())
    with OAuth2Client(
        client.client_id,
        key.as_pem(is_private=True),
        redirect_uri=REDIRECT,
        token_endpoint_auth_method=redeemer,
    ) as oauth:
        token = oauth.fetch_token(
            f"{server.base_url}/token",
            grant_type="authorization_code",
            code=query["code"],
            code_verifier=verifier,
        )

    assert query["state"] == "object-state"
    assert token["access_token"] and token["id_token"]


def test_oidc_discovery_3_request_objects_are_announced(server: LiveServer) -> None:
    doc = httpx.get(f"{server.base_url}/.well-known/openid-configuration").json()

    assert doc["request_parameter_supported"] is True
    assert doc["request_uri_parameter_supported"] is False
    assert {"RS256", "PS256", "ES256"} <= set(doc["request_object_signing_alg_values_supported"])
    assert "none" not in doc["request_object_signing_alg_values_supported"]


# -- refused ---------------------------------------------------------------------------------


def test_rfc9101_10_5_unsigned_request_object_is_a_page(server: LiveServer) -> None:
    key = new_key()
    client = register(server, key)
    _, challenge = pkce_pair()
    claims = jwt.decode(request_object(server, client, key, challenge), key)

    with browser(server) as web:
        response = web.get("/authorize", params=by_value(client, unsigned(dict(claims))))

    page(response, "invalid_request_object")


def test_rfc9101_6_2_signed_by_an_unregistered_key_is_a_page(server: LiveServer) -> None:
    key, stranger = new_key(), new_key()
    client = register(server, key)
    _, challenge = pkce_pair()
    forged = request_object(server, client, stranger, challenge)
    # The registered key's kid on a stranger's signature.
    stranger_with_kid = JsonWebKey.import_key({**stranger.as_dict(is_private=True), "kid": key.kid})
    impostor = request_object(server, client, stranger_with_kid, challenge)

    with browser(server) as web:
        unknown_kid = web.get("/authorize", params=by_value(client, forged))
        same_kid = web.get("/authorize", params=by_value(client, impostor))

    page(unknown_kid, "invalid_request_object")
    page(same_kid, "invalid_request_object")


def test_rfc9101_6_3_client_id_mismatch_is_a_page(server: LiveServer) -> None:
    key = new_key()
    client, other = register(server, key), register(server, key)
    _, challenge = pkce_pair()
    signed = request_object(server, client, key, challenge, client_id=other.client_id)

    with browser(server) as web:
        response = web.get("/authorize", params=by_value(client, signed))

    page(response, "invalid_request_object")


def test_rfc9101_6_2_client_without_keys_is_a_page(server: LiveServer) -> None:
    key = new_key()
    client = register(server, None)
    _, challenge = pkce_pair()

    with browser(server) as web:
        response = web.get(
            "/authorize", params=by_value(client, request_object(server, client, key, challenge))
        )

    page(response, "invalid_request_object")


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "https://other-server.example.com"}, id="s4-wrong-aud"),
        pytest.param({"exp": int(time.time()) - 120}, id="expired"),
    ],
)
def test_rfc9101_6_broken_claims_go_back_to_the_client(
    server: LiveServer, claims: dict[str, Any]
) -> None:
    """Signed by the client, with its registered redirect URI: the error goes there as
    invalid_request_object (RFC 9101 §7), with the object's state."""
    key = new_key()
    client = register(server, key)
    _, challenge = pkce_pair()
    signed = request_object(server, client, key, challenge, **claims)

    with browser(server) as web:
        response = web.get("/authorize", params=by_value(client, signed))

    query = redirected_error(response, "invalid_request_object")
    assert query["state"] == "object-state"


def test_rfc9101_10_5_held_client_sending_plain_parameters_is_refused(
    server: LiveServer,
) -> None:
    key = new_key()
    client = register(server, key, require_signed_request_object=True)
    _, challenge = pkce_pair()
    plain = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid read",
        "state": "plain-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }

    with browser(server) as web:
        response = web.get("/authorize", params=plain)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        pushed = http.post("/par", data=plain, auth=client.basic_auth())

    query = redirected_error(response, "invalid_request")
    assert query["state"] == "plain-state"
    assert pushed.status_code == 400 and pushed.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        pytest.param("unsigned", "invalid_request_object", id="s10_5-unsigned"),
        pytest.param("wrong-aud", "invalid_request_object", id="s4-wrong-aud"),
        pytest.param("expired", "invalid_request_object", id="expired"),
    ],
)
def test_rfc9126_3_broken_pushed_request_object_is_a_json_error(
    server: LiveServer, broken: str, error: str
) -> None:
    """RFC 9126 §2.3: refused at /par as RFC 6749 §5.2 JSON with RFC 9101's error code."""
    key = new_key()
    client = register(server, key)
    _, challenge = pkce_pair()
    claims = {
        "wrong-aud": {"aud": "https://other-server.example.com"},
        "expired": {"exp": int(time.time()) - 120},
    }.get(broken, {})
    signed = request_object(server, client, key, challenge, **claims)
    if broken == "unsigned":
        signed = unsigned(dict(jwt.decode(signed, key)))

    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.post("/par", data={"request": signed}, auth=client.basic_auth())

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error


def test_rfc9101_request_uri_by_reference_is_still_unsupported(server: LiveServer) -> None:
    """A request object by reference (a client-hosted URL) is never fetched."""
    key = new_key()
    client = register(server, key)
    _, challenge = pkce_pair()
    params = {
        "client_id": client.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid read",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "request_uri": "https://app.example.com/request.jwt",
    }

    with browser(server) as web:
        response = web.get("/authorize", params=params)

    redirected_error(response, "request_uri_not_supported")
