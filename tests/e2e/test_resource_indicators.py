"""Resource indicators (RFC 8707) against a real server: resources registered through the
admin API, a browser sign-in with resource= at /authorize (and in a pushed request),
Authlib's OAuth 2.0 client at the token endpoint (code, refresh, client credentials), and
the resource kit's TokenVerifier accepting a token for its own audience only."""

from __future__ import annotations

import asyncio
import secrets
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from ostiary.resource import InvalidToken, TokenVerifier
from ostiary.tokens import signed
from tests.conftest import LiveServer, unique
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
    from authlib.integrations.base_client.errors import OAuthError as AuthlibError
    from authlib.integrations.httpx_client import OAuth2Client

API = "/admin/api/v1"
REDIRECT = "https://app.example.com/callback"
SCOPES = ["openid", "offline_access", "orders:read", "orders:write", "billing:read"]


def uri(name: str) -> str:
    return f"https://{unique(name)}.example.com/api"


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    """The admin API, as a bootstrapped administrator's client-credentials token."""
    made = server.call(
        lambda services: bootstrap(services, unique("root"), "boot " + secrets.token_hex(8))
    )
    answer = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"},
        auth=(made.client_id, made.client_secret),
    )
    assert answer.status_code == 200, answer.text
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    with httpx.Client(base_url=server.base_url + API, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def resources(admin: httpx.Client) -> dict[str, str]:
    """Two protected resources, registered through the admin API."""
    made = {}
    for key, scopes in (("orders", ["orders:read", "orders:write"]), ("billing", ["billing:read"])):
        response = admin.post(
            "/resources", json={"uri": uri(key), "name": key.title(), "scopes": scopes}
        )
        assert response.status_code == 201, response.text
        made[key] = response.json()["uri"]
    return made


@pytest.fixture(scope="module")
def app(server: LiveServer) -> RegisteredClient:
    return make_client(
        server,
        grant_types=["authorization_code", "refresh_token"],
        scopes=SCOPES,
        redirect_uris=[REDIRECT],
    )


@pytest.fixture(scope="module")
def service(server: LiveServer) -> RegisteredClient:
    return make_client(
        server,
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=["orders:read", "orders:write", "billing:read"],
    )


@pytest.fixture(scope="module")
def username(server: LiveServer) -> str:
    return make_user(server)


def oauth(server: LiveServer, client: RegisteredClient) -> OAuth2Client:
    return OAuth2Client(
        client_id=client.client_id,
        client_secret=client.secret,
        redirect_uri=client.redirect_uri,
        token_endpoint=f"{server.base_url}/token",
        timeout=30,
    )


def authorize(
    server: LiveServer, client: RegisteredClient, username: str, scope: str, *resources: str
) -> tuple[httpx.Response, str, dict[str, Any]]:
    """A browser through /authorize (each resource its own parameter), sign-in and
    consent: the redirect to the client, the PKCE verifier and what was sent."""
    verifier, challenge = pkce_pair()
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": list(resources),
    }
    with browser(server) as web:
        answer = login_and_consent(web, params, username)
    assert answer.status_code == 303, answer.text
    return answer, verifier, params


def code_of(answer: httpx.Response, params: dict[str, Any]) -> str:
    query = query_of(answer.headers["location"])
    assert query["state"] == params["state"], query
    return query["code"]


def claims(server: LiveServer, token: str) -> dict[str, Any]:
    async def verify(services: Any) -> dict[str, Any]:
        return await signed.verify(
            services.keys, token, issuer=server.base_url, typ={"at+jwt", "application/at+jwt"}
        )

    return server.call(verify)


def verify_at(server: LiveServer, audience: str, token: str) -> dict[str, Any]:
    """The resource kit's verdict on ``token`` at the resource ``audience``."""

    async def go() -> dict[str, Any]:
        verifier = TokenVerifier(server.base_url, audience)
        try:
            return dict(await verifier.verify(token))
        finally:
            await verifier.aclose()

    return asyncio.run(go())


# -- the admin API ---------------------------------------------------------------------------


def test_admin_api_registers_lists_shows_and_deletes_resources(admin: httpx.Client) -> None:
    new = uri("ledger")

    created = admin.post("/resources", json={"uri": new, "scopes": ["ledger:read"]})

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["uri"], body["name"], body["scopes"]) == (new, "", ["ledger:read"])
    location = created.headers["location"]
    assert admin.get(location.removeprefix(API)).json() == body
    assert admin.post("/resources", json={"uri": new}).status_code == 409
    listed, cursor = [], None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/resources", params=query).json()
        listed += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert body in listed
    assert admin.delete(location.removeprefix(API)).status_code == 204
    gone = admin.get(location.removeprefix(API))
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert admin.delete(location.removeprefix(API)).status_code == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"uri": "https://api.example.com/#part"}, "fragment"),  # RFC 8707 §2
        ({"uri": "api.example.com"}, "absolute"),  # RFC 8707 §2
        ({"uri": "http://api.example.com"}, "https"),
        ({"uri": "https://api.example.com", "scopes": ["a b"]}, "scope"),
    ],
)
def test_rfc8707_2_admin_api_refuses_what_no_request_could_name(
    admin: httpx.Client, body: dict[str, Any], reason: str
) -> None:
    refused = admin.post("/resources", json=body)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert reason in refused.json()["detail"]


# -- authorization code ---------------------------------------------------------------------


def test_rfc8707_2_authorize_with_resource_then_a_token_whose_aud_is_the_resource(
    server: LiveServer, app: RegisteredClient, username: str, resources: dict[str, str]
) -> None:
    orders = resources["orders"]
    answer, verifier, params = authorize(server, app, username, "openid orders:read", orders)

    with oauth(server, app) as client:
        token = client.fetch_token(
            code=code_of(answer, params), code_verifier=verifier, resource=orders
        )

    access = claims(server, token["access_token"])
    # RFC 8707 §2, RFC 9068 §3: the resource is the audience; §2.2: only its scopes.
    assert access["aud"] == orders
    assert access["scope"] == token["scope"] == "orders:read"
    assert token["id_token"]
    # The resource kit at that resource accepts it; at another one, never.
    assert verify_at(server, orders, token["access_token"])["sub"] == access["sub"]
    with pytest.raises(InvalidToken):
        verify_at(server, resources["billing"], token["access_token"])


def test_rfc8707_2_2_a_token_request_for_a_resource_not_authorized_is_invalid_target(
    server: LiveServer, app: RegisteredClient, username: str, resources: dict[str, str]
) -> None:
    answer, verifier, params = authorize(server, app, username, "orders:read", resources["orders"])

    with oauth(server, app) as client, pytest.raises(AuthlibError) as refused:
        client.fetch_token(
            code=code_of(answer, params), code_verifier=verifier, resource=resources["billing"]
        )

    assert refused.value.error == "invalid_target"


def test_rfc8707_2_2_refresh_downscopes_to_one_of_the_resources_granted(
    server: LiveServer, app: RegisteredClient, username: str, resources: dict[str, str]
) -> None:
    orders, billing = resources["orders"], resources["billing"]
    scope = "offline_access orders:read billing:read"
    answer, verifier, params = authorize(server, app, username, scope, orders, billing)

    with oauth(server, app) as client:
        first = client.fetch_token(code=code_of(answer, params), code_verifier=verifier)
        # No resource at the token request: a token for every resource granted.
        assert claims(server, first["access_token"])["aud"] == [orders, billing]
        narrower = client.refresh_token(refresh_token=first["refresh_token"], resource=billing)
        with pytest.raises(AuthlibError) as refused:
            client.refresh_token(refresh_token=narrower["refresh_token"], resource=uri("x"))

    access = claims(server, narrower["access_token"])
    assert (access["aud"], access["scope"], narrower["scope"]) == (
        billing,
        "billing:read",
        "billing:read",
    )
    assert verify_at(server, billing, narrower["access_token"])["aud"] == billing
    with pytest.raises(InvalidToken):
        verify_at(server, orders, narrower["access_token"])
    # RFC 8707 §2.2: not granted (here: not even registered) is invalid_target.
    assert refused.value.error == "invalid_target"


def test_rfc8707_2_an_unknown_resource_at_authorize_is_invalid_target_at_the_redirect_uri(
    server: LiveServer, app: RegisteredClient, username: str, resources: dict[str, str]
) -> None:
    unknown = uri("unknown")
    answer, _, params = authorize(
        server, app, username, "orders:read", resources["orders"], unknown
    )

    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["error"] == "invalid_target"
    assert (query["state"], query["iss"]) == (params["state"], server.base_url)
    assert "code" not in query


def test_rfc8707_2_resources_in_a_pushed_request(
    server: LiveServer, app: RegisteredClient, username: str, resources: dict[str, str]
) -> None:
    """RFC 9126: the pushed request's repeated resource parameters reach the code."""
    orders, billing = resources["orders"], resources["billing"]
    verifier, challenge = pkce_pair()
    pushed_params = {
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "orders:read billing:read",
        "state": "pushed-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": [orders, billing],
    }
    assert app.secret is not None
    pushed = httpx.post(
        f"{server.base_url}/par", data=pushed_params, auth=(app.client_id, app.secret)
    )
    assert pushed.status_code == 201, pushed.text
    by_reference = {"client_id": app.client_id, "request_uri": pushed.json()["request_uri"]}

    with browser(server) as web:
        answer = login_and_consent(web, by_reference, username)
    with oauth(server, app) as client:
        token = client.fetch_token(
            code=query_of(answer.headers["location"])["code"], code_verifier=verifier
        )

    access = claims(server, token["access_token"])
    assert access["aud"] == [orders, billing]
    assert access["scope"] == "billing:read orders:read"


# -- client credentials -----------------------------------------------------------------------


def test_rfc8707_2_client_credentials_with_a_resource(
    server: LiveServer, service: RegisteredClient, resources: dict[str, str]
) -> None:
    orders = resources["orders"]

    with oauth(server, service) as client:
        token = client.fetch_token(
            grant_type="client_credentials", scope="orders:read billing:read", resource=orders
        )

    access = claims(server, token["access_token"])
    assert access["aud"] == orders
    # A scope the resource does not accept is left out (RFC 8707 §2.2 downscoping).
    assert access["scope"] == token["scope"] == "orders:read"
    assert verify_at(server, orders, token["access_token"])["client_id"] == service.client_id
    with pytest.raises(InvalidToken):
        verify_at(server, resources["billing"], token["access_token"])


@pytest.mark.parametrize(
    "resource", ["unknown", "https://api.example.com/#fragment", "api.example.com"]
)
def test_rfc8707_2_client_credentials_refuse_a_resource_with_invalid_target(
    server: LiveServer, service: RegisteredClient, resources: dict[str, str], resource: str
) -> None:
    value = uri("unknown") if resource == "unknown" else resource
    assert service.secret is not None

    refused = httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "client_credentials", "scope": "orders:read", "resource": value},
        auth=(service.client_id, service.secret),
    )

    # RFC 8707 §2: 400 with invalid_target (RFC 6749 §5.2 JSON).
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_target"
    assert refused.headers["cache-control"] == "no-store"


def test_client_credentials_without_resource_keep_the_default_audience(
    server: LiveServer, service: RegisteredClient, resources: dict[str, str]
) -> None:
    with oauth(server, service) as client:
        token = client.fetch_token(grant_type="client_credentials", scope="orders:read")

    assert claims(server, token["access_token"])["aud"] == server.base_url
    with pytest.raises(InvalidToken):
        verify_at(server, resources["orders"], token["access_token"])


def test_a_deleted_resource_gets_no_more_tokens(
    server: LiveServer, service: RegisteredClient, admin: httpx.Client
) -> None:
    gone = uri("gone")
    assert admin.post("/resources", json={"uri": gone, "scopes": ["orders:read"]}).is_success
    with oauth(server, service) as client:
        client.fetch_token(grant_type="client_credentials", scope="orders:read", resource=gone)

        assert admin.delete("/resources/" + quote(gone, safe="")).status_code == 204

        with pytest.raises(AuthlibError) as refused:
            client.fetch_token(grant_type="client_credentials", scope="orders:read", resource=gone)
    assert refused.value.error == "invalid_target"
