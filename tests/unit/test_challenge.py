"""RFC 6750 §3: the one WWW-Authenticate Bearer challenge builder, and the status that
goes with each refusal (§3.1)."""

from __future__ import annotations

import json
import re

import pytest

from ostiary.resource.challenge import challenge
from ostiary.resource.errors import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    ResourceError,
)

# RFC 6750 §3: auth-param values, with error/error_description/scope held to %x20-21 /
# %x23-5B / %x5D-7E.
CHALLENGE = re.compile(r'Bearer realm="[ !#-\[\]-~]*"(, [a-z_]+="[ !#-\[\]-~]*")*')


def test_rfc6750_3_1_no_credentials_is_a_bare_challenge() -> None:
    assert challenge("api") == 'Bearer realm="api"'


def test_rfc6750_3_attributes_in_order() -> None:
    assert challenge("example", "insufficient_scope", "needs more", "read write") == (
        'Bearer realm="example", error="insufficient_scope", '
        'error_description="needs more", scope="read write"'
    )


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ('say "hi"', "say hi"),
        ("back\\slash", "backslash"),
        ("line\r\nbreak", "linebreak"),
        ("caf\u00e9", "caf"),
        ("tab\there", "tabhere"),
    ],
)
def test_rfc6750_3_values_outside_the_allowed_characters_are_left_out(
    value: str, sent: str
) -> None:
    header = challenge(value, "invalid_token", value, value)
    assert CHALLENGE.fullmatch(header), header
    assert header == (
        f'Bearer realm="{sent}", error="invalid_token", error_description="{sent}", scope="{sent}"'
    )


@pytest.mark.parametrize(
    ("error", "status", "header"),
    [
        (MissingToken(), 401, 'Bearer realm="r"'),
        (
            InvalidRequest("malformed"),
            400,
            'Bearer realm="r", error="invalid_request", error_description="malformed"',
        ),
        (
            InvalidToken("expired"),
            401,
            'Bearer realm="r", error="invalid_token", error_description="expired"',
        ),
        (
            InsufficientScope(["a", "b"]),
            403,
            'Bearer realm="r", error="insufficient_scope", '
            'error_description="the token lacks the required scope", scope="a b"',
        ),
        (
            InsufficientScope((), "the token lacks the required role"),
            403,
            'Bearer realm="r", error="insufficient_scope", '
            'error_description="the token lacks the required role"',
        ),
    ],
)
def test_rfc6750_3_1_status_and_challenge_of_each_refusal(
    error: ResourceError, status: int, header: str
) -> None:
    assert error.status == status
    assert error.challenge("r") == header


def test_the_body_carries_the_challenge_attributes() -> None:
    assert MissingToken().body() == {}
    assert InsufficientScope(["a"]).body() == {
        "error": "insufficient_scope",
        "error_description": "the token lacks the required scope",
        "scope": "a",
    }


def test_the_kit_answer_carries_challenge_json_and_no_store() -> None:
    status, headers, body = InvalidToken("expired").response("api")
    assert status == 401
    assert headers == [
        (
            "WWW-Authenticate",
            'Bearer realm="api", error="invalid_token", error_description="expired"',
        ),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]
    assert json.loads(body) == {"error": "invalid_token", "error_description": "expired"}
