"""RFC 6750 §2: reading a Bearer token from a request, one parser for every surface."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ostiary.resource.asgi import BearerAuthMiddleware
from ostiary.resource.bearer import bearer_token, is_b64token, request_token, single_header
from ostiary.resource.errors import InvalidRequest, InvalidToken, MissingToken, ResourceError


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        # RFC 9110 §11.1: the scheme is case-insensitive.
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        # RFC 9110 §11.4: 1*SP between scheme and credentials; surrounding space is not part
        # of the field value.
        ("Bearer    abc", "abc"),
        ("  Bearer abc  ", "abc"),
        # §2.1 b64token: the whole alphabet and trailing '='.
        ("Bearer aZ09-._~+/==", "aZ09-._~+/=="),
        ("Bearer eyJ0.eyJ1.c2ln", "eyJ0.eyJ1.c2ln"),
    ],
)
def test_rfc6750_2_1_header_token(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, ""])
def test_rfc6750_3_1_no_header_is_missing_token(header: str | None) -> None:
    with pytest.raises(MissingToken) as refused:
        bearer_token(header)
    assert (refused.value.status, refused.value.error) == (401, None)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "DPoP abc", "Bearerabc", "Token abc"])
def test_rfc6750_3_1_another_scheme_is_no_credentials_by_default(header: str) -> None:
    """§3.1: a request "attempted using an unsupported authentication method" gets a
    challenge without an error code."""
    with pytest.raises(MissingToken):
        bearer_token(header)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer   ",
        "Bearer a b",  # exactly one credential
        "Bearer a,b",
        "Bearer =abc",  # '=' only at the end
        "Bearer ab=c",
        "Bearer caf\u00e9",  # non-ASCII (latin-1 decoded header bytes)
        "Bearer a\tb",
        "Bearer a\x00b",
        'Bearer "abc"',
    ],
)
def test_rfc6750_2_1_malformed_bearer_is_invalid_request(header: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        bearer_token(header)
    assert (refused.value.status, refused.value.error) == (400, "invalid_request")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer  "])
def test_a_surface_may_refuse_a_header_without_a_bearer_token_its_own_way(header: str) -> None:
    def not_bearer() -> ResourceError:
        return InvalidToken("not a Bearer token")

    with pytest.raises(InvalidToken, match="not a Bearer token"):
        bearer_token(header, not_bearer=not_bearer)


def test_not_bearer_leaves_missing_and_malformed_headers_alone() -> None:
    def not_bearer() -> ResourceError:
        return InvalidToken("not a Bearer token")

    with pytest.raises(MissingToken):
        bearer_token(None, not_bearer=not_bearer)
    with pytest.raises(InvalidRequest):
        bearer_token("Bearer a b", not_bearer=not_bearer)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("a", True), ("a=", True), ("a==", True), ("", False), ("=", False), ("a b", False)],
)
def test_b64token_syntax(value: str, valid: bool) -> None:
    assert is_b64token(value) is valid


def test_rfc6750_2_2_form_token_when_no_header() -> None:
    assert request_token(None, "abc") == "abc"


def test_rfc6750_2_one_method_only() -> None:
    """§2: "Clients MUST NOT use more than one method to transmit the token"."""
    with pytest.raises(InvalidRequest, match="one way"):
        request_token("Bearer abc", "abc")


def test_rfc6750_2_2_form_token_is_held_to_b64token_too() -> None:
    with pytest.raises(InvalidRequest):
        request_token(None, "a b")


@pytest.mark.parametrize("form_token", [None, ""])
def test_rfc6750_3_1_no_token_either_way_is_missing(form_token: str | None) -> None:
    with pytest.raises(MissingToken):
        request_token(None, form_token)


def test_request_token_reads_the_header_as_bearer_token_does() -> None:
    assert request_token("bearer abc", None) == "abc"
    with pytest.raises(InvalidRequest, match="scheme"):
        request_token("Basic x", None, not_bearer=lambda: InvalidRequest("use the scheme"))


def test_rfc6750_2_two_authorization_headers_are_a_malformed_request() -> None:
    assert single_header([]) is None
    assert single_header(["Bearer a"]) == "Bearer a"
    assert single_header([b"Bearer a"]) == b"Bearer a"
    with pytest.raises(InvalidRequest, match="more than one"):
        single_header(["Bearer a", "Bearer b"])


class _NeverAsked:
    """A verifier that must not be reached: a malformed request is refused before."""

    async def verify(self, token: str) -> object:
        raise AssertionError(f"verify({token!r}) was called")


@pytest.mark.parametrize(
    ("headers", "status", "challenge"),
    [
        ([], 401, 'Bearer realm="api"'),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], 401, 'Bearer realm="api"'),
        (
            [(b"authorization", b"Bearer caf\xe9")],
            400,
            'Bearer realm="api", error="invalid_request", '
            'error_description="the token is not a valid Bearer token"',
        ),
        (
            [(b"authorization", b"Bearer a"), (b"Authorization", b"Bearer b")],
            400,
            'Bearer realm="api", error="invalid_request", '
            'error_description="more than one Authorization header"',
        ),
    ],
)
def test_rfc6750_3_1_asgi_middleware_refuses_before_any_verification(
    headers: list[tuple[bytes, bytes]], status: int, challenge: str
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the protected app was reached")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    middleware = BearerAuthMiddleware(app, _NeverAsked())  # type: ignore[arg-type]
    scope = {"type": "http", "path": "/", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    start = sent[0]
    assert start["status"] == status
    assert dict(start["headers"])[b"www-authenticate"] == challenge.encode()
    assert dict(start["headers"])[b"cache-control"] == b"no-store"
