"""Regression tests, one per defect found by the attack pass on the protocol endpoints:
bytes outside ASCII in Authorization headers, unbounded authorization requests stored
before anyone signed in, and the loopback port exception granted to confidential clients.

RFC 6749 §2.3.1, §4.1.2.1, §5.2; RFC 6750 §2.1, §3.1; RFC 7636 §4.2; RFC 8252 §7.3;
RFC 9700 §4.1.3.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ostiary.oauth.authorize import MAX_REQUEST, PARAM_LIMITS
from ostiary.services import Services
from ostiary.storage.tables import interactions
from tests.conftest import LiveServer
from tests.e2e.helpers import (
    authorize_params,
    browser,
    csrf_of,
    interaction_of,
    make_client,
    pkce_pair,
    query_of,
)
from tests.e2e.protocol_rows import assert_nothing_stored, largest_interaction, row_counts

FORM = "application/x-www-form-urlencoded"
NON_ASCII = [b"\xff\xfe", "\u00e9".encode(), b"Zm9v\xc3\xa9OmJhcg==", b"\x80"]


def assert_error_page(response: httpx.Response, status: int = 400) -> None:
    """An HTML error page, never a redirect (RFC 6749 §4.1.2.1)."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def error_redirect(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """A 303 to the registered ``redirect_uri`` carrying an error; its query."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    query = query_of(location)
    assert "error" in query, query
    return query


# -- RFC 6749 §5.2: Basic credentials with bytes outside ASCII -------------------------


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("value", NON_ASCII)
def test_rfc6749_5_2_non_ascii_basic_is_invalid_client(
    server: LiveServer, path: str, value: bytes
) -> None:
    """RFC 6749 §2.3.1, §5.2: a Basic header that is not base64 (here: not even ASCII) is
    invalid_client, 401 with the Basic challenge; it was a 500."""
    with httpx.Client(base_url=server.base_url) as http:
        response = http.post(
            path,
            content=b"grant_type=client_credentials&token=x",
            headers=[(b"content-type", FORM.encode()), (b"authorization", b"Basic " + value)],
        )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_rfc6749_5_2_basic_of_non_utf8_credentials_is_invalid_client(server: LiveServer) -> None:
    """RFC 6749 §2.3.1: the decoded credentials are UTF-8 text; other bytes are malformed."""
    raw = base64.b64encode(b"\xed\xa0\x80:\xff")  # a lone surrogate, then a stray byte
    with httpx.Client(base_url=server.base_url) as http:
        response = http.post(
            "/token",
            content=b"grant_type=client_credentials",
            headers=[(b"content-type", FORM.encode()), (b"authorization", b"Basic " + raw)],
        )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


# -- RFC 6750 §3.1: Bearer tokens with bytes outside the §2.1 syntax -------------------


@pytest.mark.parametrize("path", ["/userinfo", "/admin/api/v1/users", "/scim/v2/Users"])
@pytest.mark.parametrize("value", [*NON_ASCII, b"a b", b"a,b"])
def test_rfc6750_3_1_malformed_bearer_is_invalid_request(
    server: LiveServer, path: str, value: bytes
) -> None:
    """RFC 6750 §2.1, §3.1: a token outside the b64token syntax is a malformed request:
    400 invalid_request with the Bearer challenge, answered without a token lookup."""
    with httpx.Client(base_url=server.base_url) as http:
        response = http.get(path, headers=[(b"authorization", b"Bearer " + value)])
    assert response.status_code == 400, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_request"' in challenge


# -- RFC 6749 §4.1.2.1: an authorization request's size is bounded ---------------------


# GET: 32 KiB, as the request line of a 64 KiB one is refused by the HTTP layer (431).
@pytest.mark.parametrize(("method", "size"), [("GET", 32 * 1024), ("POST", 64 * 1024)])
def test_rfc6749_4_1_2_1_state_of_64_kib_is_refused_and_not_stored(
    server: LiveServer, method: str, size: int
) -> None:
    """A 64 KiB state (the whole request over MAX_REQUEST) is an error page, not a pending
    interaction kept for 15 minutes: nothing in it, the client included, is trusted yet."""
    client = make_client(server, grant_types=["authorization_code"])
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge, state="s" * size)
    before = row_counts(server)
    with browser(server) as web:
        if method == "GET":
            response = web.get("/authorize", params=params)
        else:
            response = web.post("/authorize", data=params)
    assert_error_page(response)
    assert_nothing_stored(before, row_counts(server))


@pytest.mark.parametrize("name", sorted(PARAM_LIMITS))
def test_rfc6749_4_1_2_1_oversized_parameter_is_invalid_request_redirect(
    server: LiveServer, name: str
) -> None:
    """Each parameter over its limit, with client and redirect URI verified: invalid_request
    back to the client (an oversized state is not echoed), and nothing stored."""
    client = make_client(server, grant_types=["authorization_code"])
    assert client.redirect_uri is not None
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge, **{name: "x" * (PARAM_LIMITS[name] + 1)})
    before = row_counts(server)
    with browser(server) as web:
        response = web.get("/authorize", params=params)
    query = error_redirect(response, client.redirect_uri)
    assert query["error"] == "invalid_request"
    assert query.get("state") == (None if name == "state" else params["state"])
    assert_nothing_stored(before, row_counts(server))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("state", "ab\r\nLocation: https://evil.example/"),
        ("nonce", "n\x00n"),
        ("login_hint", "alice\x1b[2J"),
        ("acr_values", "a\x01b"),
        ("scope", "read\twrite"),
    ],
)
def test_rfc6749_appendix_a_control_characters_are_invalid_request(
    server: LiveServer, name: str, value: str
) -> None:
    """RFC 6749 Appendix A.5 (state: VSCHAR), A.4 (scope: NQCHAR): control characters are
    refused, and a refused state is not echoed; nothing stored."""
    client = make_client(server, grant_types=["authorization_code"])
    assert client.redirect_uri is not None
    _, challenge = pkce_pair()
    before = row_counts(server)
    with browser(server) as web:
        response = web.get(
            "/authorize", params=authorize_params(client, challenge, **{name: value})
        )
    assert response.status_code < 500
    if response.status_code == 303:
        query = error_redirect(response, client.redirect_uri)
        assert query["error"] in ("invalid_request", "invalid_scope")
        assert name != "state" or "state" not in query
    else:
        assert_error_page(response)  # NUL: refused by the parameter parser itself
    assert_nothing_stored(before, row_counts(server))


def test_oidc_core_5_5_claims_kept_only_if_small_once_written_out(server: LiveServer) -> None:
    """A claims request is kept as parsed; 1e9 comes back as 1000000000.0, so the parsed
    request is bounded too, not only the text that arrived."""
    client = make_client(server, grant_types=["authorization_code"], scopes=["openid"])
    assert client.redirect_uri is not None
    _, challenge = pkce_pair()
    values = ",".join(["1e9"] * 900)
    claims = '{"userinfo":{"email":{"values":[' + values + "]}}}"
    assert len(claims) <= PARAM_LIMITS["claims"]
    params = authorize_params(client, challenge, scope="openid", nonce="n", claims=claims)
    before = row_counts(server)
    with browser(server) as web:
        query = error_redirect(web.get("/authorize", params=params), client.redirect_uri)
    assert query["error"] == "invalid_request"
    assert_nothing_stored(before, row_counts(server))


def test_rfc6749_4_1_2_1_oversized_request_of_unknown_client_is_an_error_page(
    server: LiveServer,
) -> None:
    """No redirect for an unverified client, however large the request (no open redirect)."""
    params = {
        "response_type": "code",
        "client_id": "no-such-client",
        "redirect_uri": "https://evil.example/cb",
        "state": "s" * (PARAM_LIMITS["state"] + 1),
    }
    with browser(server) as web:
        assert_error_page(web.get("/authorize", params=params))


def test_rfc7636_4_2_code_challenge_must_be_43_characters(server: LiveServer) -> None:
    """RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA-256): 43 characters, no more."""
    client = make_client(server, grant_types=["authorization_code"])
    assert client.redirect_uri is not None
    _, challenge = pkce_pair()
    before = row_counts(server)
    with browser(server) as web:
        for value in (challenge + "A", challenge * 3, challenge[:42]):
            params = authorize_params(client, None, code_challenge=value)
            params["code_challenge_method"] = "S256"
            query = error_redirect(web.get("/authorize", params=params), client.redirect_uri)
            assert query["error"] == "invalid_request"
    assert_nothing_stored(before, row_counts(server))


def test_largest_accepted_request_keeps_a_small_interaction(server: LiveServer) -> None:
    """Every stored parameter at its limit still fits in MAX_REQUEST: the most one
    unauthenticated request can make the server keep."""
    client = make_client(server, grant_types=["authorization_code"])
    _, challenge = pkce_pair()
    params = authorize_params(
        client,
        challenge,
        state="s" * PARAM_LIMITS["state"],
        nonce="n" * PARAM_LIMITS["nonce"],
        login_hint="h" * PARAM_LIMITS["login_hint"],
        acr_values=" ".join(["a" * 9] * (PARAM_LIMITS["acr_values"] // 10)),
    )
    with browser(server) as web:
        response = web.get("/authorize", params=params)
    assert response.status_code == 200, response.text
    interaction_of(response.text)
    assert largest_interaction(server) <= MAX_REQUEST


def test_interaction_keeps_only_what_the_request_said(server: LiveServer) -> None:
    """A plain request's interaction has no fields at their default value."""
    client = make_client(server, grant_types=["authorization_code"])
    _, challenge = pkce_pair()

    async def stored(services: Services) -> list[dict[str, Any]]:
        async with services.engine.connect() as conn:
            rows = (await conn.execute(select(interactions.c.request))).scalars().all()
        return [r for r in rows if r.get("client_id") == client.client_id]

    with browser(server) as web:
        assert web.get("/authorize", params=authorize_params(client, challenge)).status_code == 200
    [request] = server.call(stored)
    assert set(request) == {
        "client_id",
        "redirect_uri",
        "redirect_uri_given",
        "scopes",
        "state",
        "code_challenge",
    }


def test_oversized_login_form_is_refused_without_a_session(server: LiveServer) -> None:
    """The login form is read with a size cap (64 KiB), not buffered whole first."""
    client = make_client(server, grant_types=["authorization_code"])
    _, challenge = pkce_pair()
    with browser(server) as web:
        page = web.get("/authorize", params=authorize_params(client, challenge))
        interaction = interaction_of(page.text)
        before = row_counts(server)
        response = web.post(
            f"{interaction}/login",
            data={"csrf": csrf_of(page.text), "username": "u", "password": "p" * 70_000},
        )
    assert_error_page(response)
    assert_nothing_stored(before, row_counts(server))


def test_rfc6750_3_1_oversized_userinfo_body_is_invalid_request(server: LiveServer) -> None:
    """The UserInfo POST body is read with the forms' size cap: 400, not a whole read."""
    response = httpx.post(
        f"{server.base_url}/userinfo",
        content=b"access_token=" + b"a" * 70_000,
        headers={"content-type": FORM},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("path", ["/logout", "/account/login"])
def test_oversized_page_forms_are_error_pages(server: LiveServer, path: str) -> None:
    """RP-Initiated Logout and the account sign-in read their forms with the same cap."""
    with browser(server) as web:
        before = row_counts(server)
        response = web.post(path, content=b"a=" + b"b" * 70_000, headers={"content-type": FORM})
    assert_error_page(response)
    assert_nothing_stored(before, row_counts(server))


# -- RFC 8252 §7.3 / RFC 9700 §4.1.3: the loopback port exception is for native clients ---


def test_rfc9700_4_1_3_confidential_client_loopback_other_port_is_refused(
    server: LiveServer,
) -> None:
    """A confidential client registered with http://127.0.0.1:8080/cb gets exact matching:
    another port is an error page (it was accepted, as for a native app)."""
    client = make_client(
        server, grant_types=["authorization_code"], redirect_uris=["http://127.0.0.1:8080/cb"]
    )
    _, challenge = pkce_pair()
    with browser(server) as web:
        other = web.get(
            "/authorize",
            params=authorize_params(client, challenge, redirect_uri="http://127.0.0.1:9090/cb"),
        )
        exact = web.get("/authorize", params=authorize_params(client, challenge))
    assert_error_page(other)
    assert exact.status_code == 200, exact.text


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://127.0.0.1/cb", "http://127.0.0.1:53124/cb"),
        ("http://[::1]:8080/cb", "http://[::1]:61000/cb"),
    ],
)
def test_rfc8252_7_3_public_native_client_any_loopback_port(
    server: LiveServer, registered: str, requested: str
) -> None:
    """RFC 8252 §7.3: a native (public) client still gets any port on its loopback URI."""
    native = make_client(
        server, public=True, grant_types=["authorization_code"], redirect_uris=[registered]
    )
    _, challenge = pkce_pair()
    with browser(server) as web:
        response = web.get(
            "/authorize", params=authorize_params(native, challenge, redirect_uri=requested)
        )
    assert response.status_code == 200, response.text
    interaction_of(response.text)
