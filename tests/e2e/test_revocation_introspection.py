"""Revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414) and the JWKS
(RFC 7517) against a real server, with tokens obtained through the real code flow."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, KeySet

from ostiary import clock
from ostiary.services import Services
from tests.conftest import LiveServer
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    login_and_consent,
    make_client,
    make_user,
    pkce_pair,
    query_of,
)

INACTIVE = {"active": False}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


# -- helpers -------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value).encode())


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    pad = "=" * (-len(header) % 4), "=" * (-len(payload) % 4)
    return (
        json.loads(base64.urlsafe_b64decode(header + pad[0])),
        json.loads(base64.urlsafe_b64decode(payload + pad[1])),
        signature,
    )


def auth_of(client: RegisteredClient) -> dict[str, Any]:
    if client.secret is None:
        return {"data": {"client_id": client.client_id}}
    return {"auth": client.basic_auth()}


def call(
    http: httpx.Client, path: str, client: RegisteredClient | None, data: dict[str, str]
) -> httpx.Response:
    kwargs: dict[str, Any] = auth_of(client) if client else {}
    kwargs["data"] = {**kwargs.get("data", {}), **data}
    return http.post(path, **kwargs)


def revoke(
    http: httpx.Client, client: RegisteredClient, token: str, hint: str | None = None
) -> httpx.Response:
    data = {"token": token} | ({"token_type_hint": hint} if hint else {})
    return call(http, "/revoke", client, data)


def assert_revoke_ok(response: httpx.Response) -> None:
    """RFC 7009 §2.2: 200 whether or not the token was known or revoked."""
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error


def introspect(http: httpx.Client, caller: RegisteredClient, token: str) -> dict[str, Any]:
    response = http.post("/introspect", data={"token": token}, auth=caller.basic_auth())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def issue(
    web: httpx.Client, http: httpx.Client, client: RegisteredClient, scope: str = "read"
) -> dict[str, Any]:
    """Tokens through /authorize (signed-in browser, consent if asked) and /token."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope=scope)
    response = web.get("/authorize", params=params)
    location = response.headers["location"]
    if location.startswith("/interaction/"):
        page = web.get(location)
        response = web.post(
            f"{location}/consent", data={"csrf": csrf_of(page.text), "decision": "allow"}
        )
        location = response.headers["location"]
    data = {
        "grant_type": "authorization_code",
        "code": query_of(location)["code"],
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    token = call(http, "/token", client, data)
    assert token.status_code == 200, token.text
    return token.json()


def refresh(http: httpx.Client, client: RegisteredClient, token: str) -> httpx.Response:
    return call(http, "/token", client, {"grant_type": "refresh_token", "refresh_token": token})


def mint(server: LiveServer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT signed with the server's own current signing key (header fields override)."""

    async def sign(services: Services) -> str:
        keys = await services.keys.fresh()
        alg = services.settings.tokens.access_token_alg
        key = keys.signing_key(alg)
        full = {"alg": alg, "typ": "at+jwt", "kid": key.kid, **header}
        return jwt.encode(full, claims, key.key, algorithms=[full["alg"]])

    return server.call(sign)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def username(server: LiveServer) -> str:
    return make_user(server)


@pytest.fixture(scope="module")
def web(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    first_party = make_client(server, first_party=True)
    session = browser(server)
    _, challenge = pkce_pair()
    response = login_and_consent(session, authorize_params(first_party, challenge), username)
    assert "code" in query_of(response.headers["location"])
    yield session
    session.close()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def app(server: LiveServer) -> RegisteredClient:
    return make_client(server)


@pytest.fixture(scope="module")
def other_app(server: LiveServer) -> RegisteredClient:
    return make_client(server)


@pytest.fixture(scope="module")
def native(server: LiveServer) -> RegisteredClient:
    return make_client(server, public=True)


@pytest.fixture(scope="module")
def auditor(server: LiveServer) -> RegisteredClient:
    """A resource server's confidential client: it only introspects."""
    return make_client(server, redirect_uris=[], grant_types=["client_credentials"])


@pytest.fixture(scope="module")
def tokens(web: httpx.Client, http: httpx.Client, app: RegisteredClient) -> dict[str, Any]:
    """One grant that no test in this module revokes (read-only uses)."""
    return issue(web, http, app, scope="read write")


# -- RFC 7009: revocation ----------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_rfc7009_2_1_revoked_access_token_introspects_inactive(
    http: httpx.Client,
    web: httpx.Client,
    app: RegisteredClient,
    auditor: RegisteredClient,
    hint: str | None,
) -> None:
    issued = issue(web, http, app)
    assert introspect(http, auditor, issued["access_token"])["active"] is True
    # A wrong hint only slows the lookup (RFC 7009 §2.1); the token is still found.
    assert_revoke_ok(revoke(http, app, issued["access_token"], hint))
    assert introspect(http, auditor, issued["access_token"]) == INACTIVE
    # Revoking an access token leaves the refresh token of the grant alone.
    assert introspect(http, app, issued["refresh_token"])["active"] is True
    assert refresh(http, app, issued["refresh_token"]).status_code == 200
    # Revoking again is still a 200.
    assert_revoke_ok(revoke(http, app, issued["access_token"], hint))


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_rfc7009_2_1_revoked_refresh_token_takes_its_access_tokens(
    http: httpx.Client,
    web: httpx.Client,
    app: RegisteredClient,
    auditor: RegisteredClient,
    hint: str | None,
) -> None:
    issued = issue(web, http, app)
    rotated = refresh(http, app, issued["refresh_token"]).json()
    unrelated = issue(web, http, app)

    assert_revoke_ok(revoke(http, app, rotated["refresh_token"], hint))

    assert introspect(http, app, rotated["refresh_token"]) == INACTIVE
    for access in (issued["access_token"], rotated["access_token"]):
        assert introspect(http, auditor, access) == INACTIVE
    refused = refresh(http, app, rotated["refresh_token"])
    assert_oauth_error(refused, 400, "invalid_grant")
    # Another grant of the same user and client is untouched.
    assert introspect(http, auditor, unrelated["access_token"])["active"] is True
    assert introspect(http, app, unrelated["refresh_token"])["active"] is True


def test_rfc7009_2_1_public_client_revokes_its_own_refresh_token(
    http: httpx.Client, web: httpx.Client, native: RegisteredClient, auditor: RegisteredClient
) -> None:
    issued = issue(web, http, native)
    assert_revoke_ok(revoke(http, native, issued["refresh_token"], "refresh_token"))
    assert_oauth_error(refresh(http, native, issued["refresh_token"]), 400, "invalid_grant")
    assert introspect(http, auditor, issued["access_token"]) == INACTIVE


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("ost_rt_never-issued", id="unknown-refresh"),
        pytest.param("opaque-garbage", id="garbage"),
        pytest.param("a.b.c", id="jwt-shaped-garbage"),
        pytest.param(
            b64url_json({"alg": "ES256", "typ": "at+jwt", "kid": "nope"})
            + "."
            + b64url_json({"jti": "x"})
            + ".AAAA",
            id="unknown-kid",
        ),
        pytest.param("x" * 10_000, id="huge"),
    ],
)
def test_rfc7009_2_2_unknown_token_is_200(
    http: httpx.Client, app: RegisteredClient, token: str
) -> None:
    assert_revoke_ok(revoke(http, app, token))


def test_rfc7009_2_1_other_clients_token_is_not_revoked(
    http: httpx.Client,
    web: httpx.Client,
    app: RegisteredClient,
    other_app: RegisteredClient,
    auditor: RegisteredClient,
) -> None:
    issued = issue(web, http, app)
    # 200 (no oracle for whether the token exists), but nothing happens.
    for token in (issued["access_token"], issued["refresh_token"]):
        assert_revoke_ok(revoke(http, other_app, token))
    assert introspect(http, auditor, issued["access_token"])["active"] is True
    assert introspect(http, app, issued["refresh_token"])["active"] is True
    assert refresh(http, app, issued["refresh_token"]).status_code == 200


@pytest.mark.parametrize("hint", ["id_token", "ACCESS_TOKEN", "urn:x:token", "refresh"])
def test_rfc7009_2_2_1_unsupported_token_type_hint(
    http: httpx.Client,
    app: RegisteredClient,
    auditor: RegisteredClient,
    tokens: dict[str, Any],
    hint: str,
) -> None:
    response = revoke(http, app, tokens["access_token"], hint)
    assert_oauth_error(response, 400, "unsupported_token_type")
    assert introspect(http, auditor, tokens["access_token"])["active"] is True


@pytest.mark.parametrize(
    ("credentials", "challenge"),
    [
        pytest.param("wrong-secret", True, id="wrong-secret"),
        pytest.param("unknown-client", True, id="unknown-client"),
        pytest.param("none", False, id="no-authentication"),
        pytest.param("id-only", False, id="confidential-without-secret"),
    ],
)
def test_rfc7009_2_1_revocation_requires_client_authentication(
    http: httpx.Client,
    app: RegisteredClient,
    auditor: RegisteredClient,
    tokens: dict[str, Any],
    credentials: str,
    challenge: bool,
) -> None:
    assert app.secret is not None
    kwargs: dict[str, Any] = {
        "wrong-secret": {"auth": (app.client_id, app.secret + "x")},
        "unknown-client": {"auth": ("no-such-client", app.secret)},
        "none": {},
        "id-only": {"data": {"client_id": app.client_id}},
    }[credentials]
    kwargs["data"] = {**kwargs.get("data", {}), "token": tokens["refresh_token"]}
    response = http.post("/revoke", **kwargs)
    assert_oauth_error(response, 401, "invalid_client")
    assert ("www-authenticate" in response.headers) is challenge
    assert introspect(http, app, tokens["refresh_token"])["active"] is True


def test_rfc7009_2_1_token_parameter_is_required(http: httpx.Client, app: RegisteredClient) -> None:
    response = call(http, "/revoke", app, {"token_type_hint": "access_token"})
    assert_oauth_error(response, 400, "invalid_request")
    assert http.get("/revoke").status_code == 405


# -- RFC 7662: introspection ---------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials", ["none", "public-client", "wrong-secret", "unknown-client", "id-only"]
)
def test_rfc7662_2_1_introspection_requires_a_confidential_client(
    http: httpx.Client,
    app: RegisteredClient,
    native: RegisteredClient,
    tokens: dict[str, Any],
    credentials: str,
) -> None:
    assert app.secret is not None
    kwargs: dict[str, Any] = {
        "none": {},
        "public-client": {"data": {"client_id": native.client_id}},
        "wrong-secret": {"auth": (app.client_id, app.secret[:-1])},
        "unknown-client": {"auth": ("no-such-client", app.secret)},
        "id-only": {"data": {"client_id": app.client_id}},
    }[credentials]
    kwargs["data"] = {**kwargs.get("data", {}), "token": tokens["access_token"]}
    response = http.post("/introspect", **kwargs)
    assert_oauth_error(response, 401, "invalid_client")
    assert "active" not in response.json()


def test_rfc7662_2_1_public_client_may_not_introspect_even_its_own_token(
    http: httpx.Client, web: httpx.Client, native: RegisteredClient
) -> None:
    issued = issue(web, http, native)
    for token in (issued["access_token"], issued["refresh_token"]):
        response = call(http, "/introspect", native, {"token": token})
        assert_oauth_error(response, 401, "invalid_client")


def test_rfc7662_2_2_active_access_token(
    server: LiveServer,
    http: httpx.Client,
    app: RegisteredClient,
    auditor: RegisteredClient,
    username: str,
    tokens: dict[str, Any],
) -> None:
    info = introspect(http, auditor, tokens["access_token"])
    _, claims, _ = jwt_parts(tokens["access_token"])
    required = {"active", "scope", "client_id", "sub", "exp", "iat", "iss", "jti", "token_type"}
    assert required <= set(info), info
    assert info["active"] is True
    assert info["token_type"] == "Bearer"
    assert info["scope"] == "read write"
    assert info["client_id"] == app.client_id
    assert info["iss"] == server.base_url
    assert info["username"] == username
    for name in ("sub", "exp", "iat", "jti", "aud", "auth_time"):
        assert info[name] == claims[name], name
    assert info["exp"] - info["iat"] == server.settings.tokens.access_token_ttl
    assert info["iat"] <= clock.now() < info["exp"]

    async def user_id(services: Services) -> str:
        user = await services.store.users.by_username(username)
        assert user is not None
        return user.id

    assert info["sub"] == server.call(user_id)


def test_rfc7662_2_2_refresh_token_is_visible_only_to_its_client(
    http: httpx.Client,
    app: RegisteredClient,
    other_app: RegisteredClient,
    auditor: RegisteredClient,
    tokens: dict[str, Any],
) -> None:
    own = introspect(http, app, tokens["refresh_token"])
    assert own["active"] is True
    assert own["token_type"] == "refresh_token"
    assert own["client_id"] == app.client_id
    assert own["scope"] == "read write"
    assert own["iss"] == introspect(http, app, tokens["access_token"])["iss"]
    assert own["sub"] == introspect(http, app, tokens["access_token"])["sub"]
    assert own["username"] == introspect(http, app, tokens["access_token"])["username"]
    assert own["exp"] > clock.now()
    for stranger in (other_app, auditor):
        assert introspect(http, stranger, tokens["refresh_token"]) == INACTIVE


FORGERIES: dict[str, Callable[[LiveServer, str], str]] = {
    "tampered-signature": lambda server, token: (
        token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    ),
    "tampered-payload": lambda server, token: ".".join(
        [
            token.split(".")[0],
            b64url_json({**jwt_parts(token)[1], "scope": "read write admin"}),
            token.split(".")[2],
        ]
    ),
    "alg-none": lambda server, token: ".".join(
        [b64url_json({**jwt_parts(token)[0], "alg": "none"}), token.split(".")[1], ""]
    ),
    "foreign-key-same-kid": lambda server, token: jwt.encode(
        jwt_parts(token)[0], jwt_parts(token)[1], ECKey.generate_key("P-256"), algorithms=["ES256"]
    ),
    "unknown-kid": lambda server, token: jwt.encode(
        {**jwt_parts(token)[0], "kid": "not-a-kid"},
        jwt_parts(token)[1],
        ECKey.generate_key("P-256"),
        algorithms=["ES256"],
    ),
    "expired": lambda server, token: mint(
        server, {}, {**jwt_parts(token)[1], "exp": clock.now() - 1, "iat": clock.now() - 61}
    ),
    "other-issuer": lambda server, token: mint(
        server, {}, {**jwt_parts(token)[1], "iss": "https://evil.example.net"}
    ),
    "wrong-typ": lambda server, token: mint(server, {"typ": "JWT"}, jwt_parts(token)[1]),
    "no-typ": lambda server, token: mint_without_typ(server, jwt_parts(token)[1]),
    "no-jti": lambda server, token: mint(
        server, {}, {k: v for k, v in jwt_parts(token)[1].items() if k != "jti"}
    ),
    "exp-not-a-number": lambda server, token: mint(
        server, {}, {**jwt_parts(token)[1], "exp": str(clock.now() + 600)}
    ),
    "other-key-of-the-ring": lambda server, token: mint_with_other_alg(server, jwt_parts(token)),
    "not-a-jwt": lambda server, token: "ost_at_" + token.replace(".", ""),
    "empty-segments": lambda server, token: "..",
}


def mint_without_typ(server: LiveServer, claims: dict[str, Any]) -> str:
    async def sign(services: Services) -> str:
        keys = await services.keys.fresh()
        alg = services.settings.tokens.access_token_alg
        key = keys.signing_key(alg)
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key.key, algorithms=[alg])

    return server.call(sign)


def mint_with_other_alg(
    server: LiveServer, parts: tuple[dict[str, Any], dict[str, Any], str]
) -> str:
    """Signed by the ring's RS256 key but labelled with the ES256 key's kid."""

    async def sign(services: Services) -> str:
        keys = await services.keys.fresh()
        rsa = keys.signing_key("RS256")
        header = {**parts[0], "alg": "RS256"}
        return jwt.encode(header, parts[1], rsa.key, algorithms=["RS256"])

    return server.call(sign)


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_rfc7662_2_2_invalid_access_tokens_are_inactive(
    server: LiveServer,
    http: httpx.Client,
    auditor: RegisteredClient,
    tokens: dict[str, Any],
    forgery: str,
) -> None:
    forged = FORGERIES[forgery](server, tokens["access_token"])
    assert forged != tokens["access_token"]
    assert introspect(http, auditor, forged) == INACTIVE
    # The genuine token is unaffected.
    assert introspect(http, auditor, tokens["access_token"])["active"] is True


def test_rfc7662_2_2_server_signed_control_token_is_active(
    server: LiveServer, http: httpx.Client, auditor: RegisteredClient, tokens: dict[str, Any]
) -> None:
    """The minting used by the forgeries yields an active token when nothing is wrong."""
    claims = {**jwt_parts(tokens["access_token"])[1], "jti": "control-" + str(clock.now())}
    assert introspect(http, auditor, mint(server, {}, claims))["active"] is True


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
def test_rfc7662_2_2_unhashable_typ_header_is_inactive_not_500(
    http: httpx.Client, auditor: RegisteredClient, path: str
) -> None:
    header = b64url_json({"alg": "ES256", "typ": ["at+jwt"], "kid": "x"})
    token = f"{header}.{b64url_json({'jti': 'x'})}.{b64url(b'sig')}"
    response = http.post(path, data={"token": token}, auth=auditor.basic_auth())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "token", ["", "ost_rt_never-issued", "opaque", "a.b.c", "x" * 9000 + ".a.b"]
)
def test_rfc7662_2_2_unknown_tokens_are_inactive(
    http: httpx.Client, auditor: RegisteredClient, token: str
) -> None:
    response = http.post("/introspect", data={"token": token}, auth=auditor.basic_auth())
    if token == "":
        # An empty parameter counts as omitted (RFC 6749 §3.1): the token is required.
        assert_oauth_error(response, 400, "invalid_request")
    else:
        assert response.status_code == 200
        assert response.json() == INACTIVE


def test_rfc7662_2_2_disabled_users_tokens_are_inactive(
    server: LiveServer,
    http: httpx.Client,
    app: RegisteredClient,
    auditor: RegisteredClient,
) -> None:
    name = make_user(server)
    with browser(server) as own:
        issued = _issue_after_login(server, own, http, app, name)
    assert introspect(http, auditor, issued["access_token"])["active"] is True
    assert introspect(http, app, issued["refresh_token"])["active"] is True

    async def set_disabled(services: Services) -> None:
        user = await services.store.users.by_username(name)
        assert user is not None
        await services.store.users.set_disabled(user.id, True)

    server.call(set_disabled)
    assert introspect(http, auditor, issued["access_token"]) == INACTIVE
    assert introspect(http, app, issued["refresh_token"]) == INACTIVE


def _issue_after_login(
    server: LiveServer, own: httpx.Client, http: httpx.Client, app: RegisteredClient, name: str
) -> dict[str, Any]:
    first_party = make_client(server, first_party=True)
    _, challenge = pkce_pair()
    login_and_consent(own, authorize_params(first_party, challenge), name)
    return issue(own, http, app)


def test_rfc7662_2_2_deleted_clients_tokens_are_inactive(
    server: LiveServer, http: httpx.Client, web: httpx.Client, auditor: RegisteredClient
) -> None:
    doomed = make_client(server)
    issued = issue(web, http, doomed)
    assert introspect(http, auditor, issued["access_token"])["active"] is True

    async def delete(services: Services) -> bool:
        return await services.store.clients.delete(doomed.client_id)

    assert server.call(delete) is True
    assert introspect(http, auditor, issued["access_token"]) == INACTIVE


def test_rfc7662_2_2_client_credentials_token_has_client_as_subject(
    http: httpx.Client, auditor: RegisteredClient
) -> None:
    response = http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=auditor.basic_auth()
    )
    assert response.status_code == 200, response.text
    info = introspect(http, auditor, response.json()["access_token"])
    assert info["active"] is True
    assert info["sub"] == info["client_id"] == auditor.client_id
    assert "username" not in info
    assert "scope" not in info


# -- RFC 8414: metadata ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def metadata(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_rfc8414_3_2_issuer_is_the_base_url_and_the_token_iss(
    server: LiveServer, metadata: dict[str, Any], tokens: dict[str, Any]
) -> None:
    raw = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server").content
    assert f'"issuer":"{server.base_url}"'.encode() in raw.replace(b" ", b"")
    assert metadata["issuer"] == server.base_url
    parts = urlsplit(metadata["issuer"])
    # RFC 8414 §2: no query, no fragment.
    assert not parts.query and not parts.fragment
    assert not metadata["issuer"].endswith("/")
    assert jwt_parts(tokens["access_token"])[1]["iss"] == metadata["issuer"]


@pytest.mark.parametrize(
    ("name", "path", "method", "statuses"),
    [
        ("authorization_endpoint", "/authorize", "GET", {400}),
        ("token_endpoint", "/token", "POST", {400}),
        ("revocation_endpoint", "/revoke", "POST", {400, 401}),
        ("introspection_endpoint", "/introspect", "POST", {400, 401}),
        ("jwks_uri", "/jwks.json", "GET", {200}),
    ],
)
def test_rfc8414_2_endpoints_are_absolute_and_live(
    server: LiveServer,
    metadata: dict[str, Any],
    name: str,
    path: str,
    method: str,
    statuses: set[int],
) -> None:
    url = metadata[name]
    assert url == server.base_url + path
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.netloc
    assert httpx.request(method, url).status_code in statuses


def test_rfc8414_2_only_what_is_supported_is_advertised(metadata: dict[str, Any]) -> None:
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "query" in metadata["response_modes_supported"]
    assert "fragment" not in metadata["response_modes_supported"]
    grants = set(metadata["grant_types_supported"])
    assert {"authorization_code", "refresh_token", "client_credentials"} <= grants
    assert not grants & {"implicit", "password"}
    # RFC 9207 §3.
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"client_secret_basic", "client_secret_post", "none"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]
    algs = metadata["access_token_signing_alg_values_supported"]
    assert algs and not [a for a in algs if a == "none" or a.startswith("HS")]


def test_rfc8414_3_metadata_is_cacheable_and_public(http: httpx.Client) -> None:
    response = http.get("/.well-known/oauth-authorization-server")
    assert "max-age" in response.headers["cache-control"]
    assert response.headers["access-control-allow-origin"] == "*"


# -- RFC 7517: the JWKS ------------------------------------------------------------------------


def test_rfc7517_5_jwks_has_public_keys_only(http: httpx.Client) -> None:
    response = http.get("/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwk-set+json")
    keys = response.json()["keys"]
    assert keys
    kids = [key["kid"] for key in keys]
    assert len(kids) == len(set(kids))
    for key in keys:
        assert {"kty", "kid", "alg", "use"} <= set(key), key
        assert key["use"] == "sig"
        # Asymmetric signatures only: never "none", never a MAC.
        assert key["alg"] != "none" and not key["alg"].startswith("HS")
        assert not PRIVATE_MEMBERS & set(key), sorted(key)


def test_rfc9068_4_access_tokens_verify_against_the_jwks(
    http: httpx.Client, web: httpx.Client, app: RegisteredClient, tokens: dict[str, Any]
) -> None:
    jwks_json = http.get("/jwks.json").json()
    key_set = KeySet.import_key_set(jwks_json)
    for token in (tokens["access_token"], issue(web, http, app)["access_token"]):
        header, _, _ = jwt_parts(token)
        published = {k["kid"]: k for k in jwks_json["keys"]}
        assert header["kid"] in published
        assert header["alg"] == published[header["kid"]]["alg"]
        assert header["typ"] == "at+jwt"
        decoded = jwt.decode(token, key_set)
        assert decoded.claims["client_id"] == app.client_id
    # A tampered token does not verify against the published keys.
    broken = tokens["access_token"][:-4] + (
        "AAAA" if tokens["access_token"][-4:] != "AAAA" else "BBBB"
    )
    with pytest.raises(BadSignatureError):
        jwt.decode(broken, key_set)
