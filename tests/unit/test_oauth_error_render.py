"""RFC 6749 §5.2: an OAuthError becomes a response in one place, whichever way it is sent
(a Starlette response, or the machine endpoints' raw ASGI messages)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest

from ostiary.errors import OAuthError, invalid_client, invalid_grant
from ostiary.storage.errors import RETRY_AFTER
from ostiary.web import token_routes
from ostiary.web.responses import (
    oauth_error,
    oauth_error_parts,
    server_error,
    unavailable_error,
    unexpected_error,
)

CASES = [
    pytest.param(invalid_grant("the code has expired"), id="invalid_grant"),
    pytest.param(invalid_client("unknown client", basic=True), id="invalid_client-basic"),
    pytest.param(invalid_client("unknown client"), id="invalid_client-form"),
    pytest.param(OAuthError("unsupported_grant_type"), id="no-description"),
    pytest.param(unavailable_error(), id="temporarily_unavailable"),
    pytest.param(unexpected_error(), id="server_error"),
]


def starlette_parts(exc: OAuthError) -> tuple[int, set[tuple[bytes, bytes]], bytes]:
    response = oauth_error(exc)
    return response.status_code, set(response.raw_headers), bytes(response.body)


def asgi_parts(exc: OAuthError) -> tuple[int, set[tuple[bytes, bytes]], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(token_routes._error(send, exc))
    start, body = sent
    return start["status"], set(start["headers"]), body["body"]


def test_rfc6749_5_2_body_status_and_no_store() -> None:
    status, headers, body = oauth_error_parts(invalid_grant("the code has expired"))
    assert status == 400
    assert orjson.loads(body) == {
        "error": "invalid_grant",
        "error_description": "the code has expired",
    }
    assert (b"content-type", b"application/json") in headers
    assert (b"cache-control", b"no-store") in headers
    assert (b"pragma", b"no-cache") in headers


def test_rfc6749_5_2_invalid_client_by_basic_is_401_with_a_basic_challenge() -> None:
    status, headers, _ = oauth_error_parts(invalid_client("unknown client", basic=True))
    assert status == 401
    assert (b"www-authenticate", b'Basic realm="ostiary", charset="UTF-8"') in headers


def test_rfc6749_5_2_invalid_client_without_basic_has_no_challenge() -> None:
    status, headers, _ = oauth_error_parts(invalid_client("unknown client"))
    assert status == 401
    assert not [name for name, _ in headers if name == b"www-authenticate"]


def test_the_detail_is_logged_never_sent(caplog: pytest.LogCaptureFixture) -> None:
    exc = invalid_grant("the code is invalid", detail="code hash 1234 replayed")
    with caplog.at_level(logging.INFO, logger="ostiary.web"):
        _, _, body = oauth_error_parts(exc)
    assert b"1234" not in body
    assert "code hash 1234 replayed" in caplog.text


def test_unavailable_is_503_with_retry_after() -> None:
    status, headers, body = oauth_error_parts(unavailable_error())
    assert status == 503
    assert (b"retry-after", str(RETRY_AFTER).encode()) in headers
    assert orjson.loads(body)["error"] == "temporarily_unavailable"


def test_server_error_says_nothing_of_the_cause() -> None:
    response = server_error(RuntimeError("secret internals"))
    assert response.status_code == 500
    assert orjson.loads(bytes(response.body)) == {
        "error": "server_error",
        "error_description": "an unexpected error occurred",
    }
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("exc", CASES)
def test_starlette_and_asgi_renderings_are_the_same(exc: OAuthError) -> None:
    status, headers, body = starlette_parts(exc)
    assert (b"content-length", str(len(body)).encode()) in headers
    assert asgi_parts(exc) == (status, headers, body)
