"""The plain-ASGI lane for token, revocation, introspection, JWKS and metadata
(``web/token_routes.py``): the same HTTP contract the router gave, at a lower cost."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer
from tests.e2e.helpers import RegisteredClient, make_client

FORM = {"content-type": "application/x-www-form-urlencoded"}
GET_PATHS = [
    "/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
]
POST_PATHS = ["/token", "/revoke", "/introspect"]


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def service(server: LiveServer) -> RegisteredClient:
    return make_client(server, redirect_uris=[], grant_types=["client_credentials"])


@pytest.mark.parametrize("path", POST_PATHS)
def test_rfc6749_3_2_token_endpoints_refuse_other_methods_with_allow(
    http: httpx.Client, path: str
) -> None:
    # RFC 6749 §3.2: the client MUST use POST; RFC 9110 §15.5.6: 405 carries Allow.
    for method in ("GET", "PUT", "DELETE"):
        response = http.request(method, path)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", GET_PATHS)
def test_documents_answer_get_and_head_and_refuse_post(http: httpx.Client, path: str) -> None:
    got = http.get(path)
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == "*"
    assert int(got.headers["content-length"]) == len(got.content) > 0
    head = http.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]
    refused = http.post(path)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"


def test_jwks_is_served_as_a_jwk_set(http: httpx.Client) -> None:
    response = http.get("/jwks.json")
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.json()["keys"]


def test_rfc6749_5_1_token_response_is_json_and_not_cached(
    http: httpx.Client, service: RegisteredClient
) -> None:
    response = http.post(
        "/token", content=b"grant_type=client_credentials", headers=FORM, auth=service.basic_auth()
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.json()["token_type"] == "Bearer"


def test_rfc6749_5_2_invalid_client_gets_401_with_basic_challenge(http: httpx.Client) -> None:
    response = http.post(
        "/token", content=b"grant_type=client_credentials", headers=FORM, auth=("nobody", "x")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"


def test_rfc6749_3_2_form_content_type_with_charset_is_accepted(
    http: httpx.Client, service: RegisteredClient
) -> None:
    response = http.post(
        "/token",
        content=b"grant_type=client_credentials",
        headers={"content-type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"},
        auth=service.basic_auth(),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", POST_PATHS)
def test_rfc6749_3_2_json_body_is_invalid_request(http: httpx.Client, path: str) -> None:
    response = http.post(path, json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_chunked_body_is_read_whole(http: httpx.Client, service: RegisteredClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"grant_type=client_"
        yield b"credentials&scope=read"

    response = http.post("/token", content=chunks(), headers=FORM, auth=service.basic_auth())
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


def test_oversized_chunked_body_is_refused_without_reading_it_all(
    http: httpx.Client, service: RegisteredClient
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"grant_type=client_credentials&pad="
        for _ in range(40):
            yield b"a" * 4096

    response = http.post("/token", content=chunks(), headers=FORM, auth=service.basic_auth())
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "request too large",
    }


def test_rfc7009_2_2_revocation_answers_200_with_empty_body(
    http: httpx.Client, service: RegisteredClient
) -> None:
    response = http.post(
        "/revoke", content=b"token=not-a-token", headers=FORM, auth=service.basic_auth()
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"


def test_other_paths_still_reach_the_router(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    assert http.get("/token/extra").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        # The login's two browser requests are called directly; other methods and the
        # interaction's other steps still get the router's answers.
        ("PUT", "/authorize", 405),
        ("GET", "/interaction/some-id/login", 405),
        ("POST", "/interaction/some-id/login/extra", 404),
        ("POST", "/interaction//login", 404),
        ("POST", "/interaction/some-id/consent", 400),
        ("POST", "/interaction/some-id/login", 400),
    ],
)
def test_login_pages_called_directly_answer_as_the_router_did(
    http: httpx.Client, method: str, path: str, status: int
) -> None:
    response = http.request(method, path)
    assert response.status_code == status, response.text
    if status == 405:
        assert "GET" in response.headers["allow"] or "POST" in response.headers["allow"]
    if status == 400:  # no browser cookie: the clear "expired" page, not a crash
        assert response.headers["content-type"].startswith("text/html")
        assert "expired" in response.text
