"""Hypothesis against the form-encoded protocol endpoints of a real server: /token,
/introspect, /revoke, /authorize (GET and POST) and the login and consent forms, on SQLite
and PostgreSQL.

Whatever arrives (percent-escapes that are not UTF-8, lone surrogates, controls, header
bytes outside ASCII, repeated parameters, huge values and numbers, wrong content types,
empty bodies), the answer is never a 5xx (RFC 6749 §5.2: errors are the client's, as JSON;
§4.1.2.1: an error page or an error redirect to a verified redirect URI, never anywhere
else), and a refused request leaves no pending interaction, code, refresh token or session
behind. ``OSTIARY_FUZZ=long`` (tests/fuzz_profile.py) runs a long hunt.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.oauth.authorize import MAX_REQUEST
from ostiary.settings import Settings
from tests.conftest import LiveServer, free_port, server_settings, start_server
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    interaction_of,
    make_client,
    pkce_pair,
)
from tests.e2e.protocol_rows import assert_nothing_stored, largest_interaction, row_counts
from tests.fuzz_profile import fuzz_settings

FORM = b"application/x-www-form-urlencoded"
REDIRECT = "https://app.example.com/callback"


@dataclass
class Target:
    server: LiveServer
    client: RegisteredClient
    challenge: str
    web: httpx.Client
    # A live interaction of ``web`` (its login page) and the CSRF token of its forms.
    interaction: str
    csrf: str


@pytest.fixture(scope="module")
def target(database_url: str) -> Iterator[Target]:
    port = free_port()
    overrides: dict[str, object] = {}
    if "rate_limits" in Settings.model_fields:
        # The fuzz is about parsing: no per-address limit may turn it into a 429 test.
        overrides["rate_limits"] = {"enabled": False}
    server, stop = start_server(server_settings(database_url, port, **overrides), port)
    client = make_client(
        server,
        grant_types=["authorization_code", "client_credentials", "refresh_token"],
        redirect_uris=[REDIRECT],
        scopes=["openid", "read", "write"],
    )
    _, challenge = pkce_pair()
    web = browser(server)
    page = web.get("/authorize", params=authorize_params(client, challenge))
    target = Target(server, client, challenge, web, interaction_of(page.text), csrf_of(page.text))
    yield target
    web.close()
    stop()


# -- strategies --------------------------------------------------------------------------

PARAM_NAMES = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "claims",
    "acr_values",
    "ui_locales",
    "request",
    "request_uri",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "token",
    "token_type_hint",
    "csrf",
    "username",
    "password",
    "decision",
]
ODD_VALUES = [
    b"%ED%A0%80",  # a lone high surrogate, as UTF-8 would (not) have it
    b"%ED%BF%BF",
    b"%F4%90%80%80",  # beyond U+10FFFF
    b"%C0%AF",  # overlong
    b"%FF",
    b"%00",
    b"%",
    b"%G1",
    b"%E9",
    b"+",
    b"=",
    b"9" * 400,
    b"-1",
    b"1e999",
    b"0x10",
    b"NaN",
    b"%D9%A1%D9%A2",  # Arabic-Indic digits: isdigit() is true for them
    b"%EF%BC%91",  # a fullwidth digit
    b"%7B%22userinfo%22%3A%7B%22x%22%3A%7B%22values%22%3A%5B1e999%5D%7D%7D%7D",
    b"%7B%7B%7B%7B%7B%7B%7B%7B",
    b"%5B%5D",
    b"null",
    b"openid%20openid%20read",
    b"none%20login",
    b"code",
    b"S256",
    b"plain",
    b"form_post",
    b"authorization_code",
    b"client_credentials",
    b"refresh_token",
    b"allow",
]


def _percent_all(raw: bytes) -> bytes:
    return "".join(f"%{b:02X}" for b in raw).encode()


VALUES = st.one_of(
    st.text(max_size=40).map(lambda t: quote_plus(t).encode()),
    st.binary(max_size=24).map(_percent_all),
    st.binary(max_size=24),
    st.text(st.characters(max_codepoint=0x1F), max_size=8).map(lambda t: quote_plus(t).encode()),
    st.sampled_from(ODD_VALUES),
    st.integers(1_000, 80_000).map(lambda n: b"a" * n),
    st.integers().map(lambda n: str(n).encode()),
)
NAMES = st.one_of(
    st.sampled_from(PARAM_NAMES).map(str.encode),
    st.binary(max_size=8),
    st.sampled_from([b"", b"%00", b"%FF", b"state%00", b"a=b"]),
)


@st.composite
def form_bodies(draw: st.DrawFn, base: dict[str, str] | None = None) -> bytes:
    """A form body: some of ``base`` (valid values, to get past the first checks), then
    fuzzed pairs, names drawn from a short list so that repeats occur; or bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    pairs: list[bytes] = []
    for name, value in (base or {}).items():
        if draw(st.booleans()):
            pairs.append(f"{name}={quote_plus(value)}".encode())
    for _ in range(draw(st.integers(0, 6))):
        name = draw(NAMES)
        pairs.append(name if draw(st.integers(0, 9)) == 0 else name + b"=" + draw(VALUES))
    order = draw(st.permutations(pairs))
    return b"&".join(order)


def wire_query(raw: bytes) -> str:
    """``raw`` as a request target can carry it: bytes outside visible ASCII (and '#')
    percent-encoded, stray '%' left as they are."""
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x23 else f"%{b:02X}" for b in raw)


# Header values HTTP/1.1 can carry (RFC 9110 §5.5: visible ASCII and obs-text 0x80-0xFF).
_FIELD_BYTES = [b for b in range(0x21, 0x100) if b != 0x7F]
FIELD_VALUES = st.lists(st.sampled_from(_FIELD_BYTES), min_size=1, max_size=40).map(bytes)


def _basic(raw: bytes) -> bytes:
    import base64

    return b"Basic " + base64.b64encode(raw)


AUTHORIZATIONS = st.one_of(
    st.none(),
    FIELD_VALUES.map(lambda v: b"Basic " + v),
    FIELD_VALUES.map(lambda v: b"Bearer " + v),
    st.binary(min_size=1, max_size=40).map(_basic),
    FIELD_VALUES,
    st.sampled_from([b"Basic", b"Basic =", b"Basic Og==", b"Basic " + b"QQ" * 5000]),
)
ODD_CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            FORM + b"; charset=utf-8",
            FORM + b"; charset=latin-1",
            b"APPLICATION/X-WWW-FORM-URLENCODED",
            b"application/json",
            b"multipart/form-data; boundary=x",
            b"text/plain",
            b"",
        ]
    ),
    FIELD_VALUES,
    st.none(),
)
# Mostly the right type, so that the rest of the request is looked at.
CONTENT_TYPES = st.one_of(st.just(FORM), st.just(FORM), st.just(FORM), ODD_CONTENT_TYPES)
EXTRA_HEADERS = st.lists(
    st.tuples(
        st.sampled_from([b"cookie", b"x-forwarded-for", b"x-forwarded-proto", b"accept-language"]),
        FIELD_VALUES,
    ),
    max_size=2,
)


def headers_of(
    content_type: bytes | None,
    authorization: bytes | None,
    extra: list[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    headers = list(extra)
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if authorization is not None:
        headers.append((b"authorization", authorization))
    return headers


def assert_not_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])


# -- /token, /introspect, /revoke --------------------------------------------------------


MACHINE_BASE = {"grant_type": "client_credentials", "scope": "read", "token": "x"}
# Half the time a valid body, so that a fuzzed header is what the endpoint looks at.
MACHINE_BODIES = st.one_of(st.just(urlencode(MACHINE_BASE).encode()), form_bodies(MACHINE_BASE))


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
@fuzz_settings(ci=30)
@given(
    body=MACHINE_BODIES,
    content_type=CONTENT_TYPES,
    authorization=AUTHORIZATIONS,
    valid_client=st.booleans(),
    extra=EXTRA_HEADERS,
)
def test_rfc6749_5_2_machine_endpoints_answer_any_input_with_a_client_error(
    target: Target,
    path: str,
    body: bytes,
    content_type: bytes | None,
    authorization: bytes | None,
    valid_client: bool,
    extra: list[tuple[bytes, bytes]],
) -> None:
    """RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3: any request gets 2xx or a JSON
    error with a 4xx status; a refused request stores nothing."""
    auth = None
    if valid_client and authorization is None:
        assert target.client.secret is not None
        auth = (target.client.client_id, target.client.secret)
    before = row_counts(target.server)
    with httpx.Client(base_url=target.server.base_url, timeout=30, auth=auth) as http:
        response = http.post(
            path, content=body, headers=headers_of(content_type, authorization, extra)
        )
    assert_not_5xx(response)
    if response.status_code >= 400:
        assert response.json()["error"], response.text
        assert_nothing_stored(before, row_counts(target.server))


# -- /authorize --------------------------------------------------------------------------

_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]*)"')


def _check_authorize_answer(target: Target, response: httpx.Response, before: dict) -> None:
    """Login page (an interaction stored), interaction page, or an error: an error page,
    or an error sent back to the registered redirect URI only (RFC 6749 §4.1.2.1)."""
    assert_not_5xx(response)
    if response.status_code == 200 and 'name="password"' in response.text:
        # Kept as JSON: quotes are escaped and acr_values become a list, so a stored
        # request may be somewhat larger than the request, never twice as large.
        assert largest_interaction(target.server) <= 2 * MAX_REQUEST
        return
    if response.status_code == 303:
        location = response.headers["location"]
        if location.startswith("/interaction/"):
            return
        assert location.startswith(REDIRECT + "?"), location
    elif response.status_code == 200:
        # An error delivered by form post (OAuth 2.0 Form Post Response Mode).
        action = _FORM_ACTION.search(response.text)
        assert action is not None and action.group(1) == REDIRECT, response.text[:500]
    else:
        assert 400 <= response.status_code < 500, response.status_code
        assert "location" not in response.headers
    assert_nothing_stored(before, row_counts(target.server))


def _authorize_base(target: Target) -> dict[str, str]:
    return authorize_params(target.client, target.challenge)


@pytest.mark.parametrize("method", ["GET", "POST"])
@fuzz_settings(ci=30)
@given(data=st.data(), extra=EXTRA_HEADERS)
def test_rfc6749_4_1_2_1_authorize_answers_any_input_safely(
    target: Target, method: str, data: st.DataObject, extra: list[tuple[bytes, bytes]]
) -> None:
    """RFC 6749 §3.1, §4.1.2.1: any request to the authorization endpoint is answered with
    a login page, an error page, or an error sent to the registered redirect URI; never a
    5xx, never a redirect elsewhere; an error stores nothing."""
    raw = data.draw(form_bodies(_authorize_base(target)), label="request")
    before = row_counts(target.server)
    with httpx.Client(base_url=target.server.base_url, timeout=30) as http:
        if method == "GET":
            # httpx refuses URLs over 64 KiB; 40 KiB is still five times MAX_REQUEST.
            response = http.get(f"/authorize?{wire_query(raw)[:40_000]}", headers=extra)
        else:
            content_type = data.draw(CONTENT_TYPES, label="content_type")
            headers = headers_of(content_type, None, extra)
            response = http.post("/authorize", content=raw, headers=headers)
    _check_authorize_answer(target, response, before)


# -- the login and consent forms ---------------------------------------------------------


@pytest.mark.parametrize("step", ["login", "consent"])
@fuzz_settings(ci=25)
@given(
    data=st.data(),
    content_type=CONTENT_TYPES,
    other_interaction=st.one_of(st.none(), st.binary(max_size=70)),
    extra=EXTRA_HEADERS,
)
def test_login_and_consent_forms_answer_any_input_safely(
    target: Target,
    step: str,
    data: st.DataObject,
    content_type: bytes | None,
    other_interaction: bytes | None,
    extra: list[tuple[bytes, bytes]],
) -> None:
    """The forms of a live interaction, fuzzed (CSRF token right or not, the interaction's
    id in the path replaced by arbitrary bytes): never a 5xx, nothing stored (no login
    here can succeed: no password is right)."""
    base = {"csrf": target.csrf, "username": "nobody", "password": "x", "decision": "allow"}
    body = data.draw(form_bodies(base), label="form")
    path = f"{target.interaction}/{step}"
    if other_interaction is not None:
        path = f"/interaction/{wire_query(other_interaction).replace('/', '%2F')}/{step}"
    before = row_counts(target.server)
    response = target.web.post(path, content=body, headers=headers_of(content_type, None, extra))
    assert_not_5xx(response)
    if response.status_code == 303:
        assert response.headers["location"].startswith("/interaction/"), response.headers
    assert_nothing_stored(before, row_counts(target.server))
