"""The authorization endpoint and the login/consent pages behind it, through a real server.

RFC 6749 §3.1, §4.1.1, §4.1.2, §4.1.2.1; RFC 7636; RFC 8252 §7.3; RFC 9207; RFC 9700.
Until the client and the redirect URI are known to be good, an error is a page and never
a redirect; after that, errors go back to the client with ``error``, ``state`` and ``iss``.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import Morsel, SimpleCookie
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import update

from ostiary import clock
from ostiary.services import Services
from ostiary.storage.tables import interactions
from tests.conftest import LiveServer
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    interaction_of,
    login_and_consent,
    make_client,
    make_user,
    pkce_pair,
    query_of,
)

REDIRECT = "https://app.example.com/callback"
SESSION = "ost_session"
DROP = object()  # a table value meaning "leave this parameter out"


# -- small helpers -------------------------------------------------------------------


def params_with(base: dict[str, str], changes: dict[str, object]) -> dict[str, str]:
    """``base`` with ``changes`` applied; a ``DROP`` value removes the parameter."""
    result = dict(base)
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = str(value)
    return result


def assert_error_page(response: httpx.Response, status: int = 400) -> None:
    """An HTML error page, and never a redirect anywhere (RFC 6749 §4.1.2.1)."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="error"' in response.text


def to_interaction(response: httpx.Response) -> str:
    """The interaction an authorization request started: the login page /authorize
    answers with (its form posts to the interaction), or a 303 to the interaction page."""
    if response.status_code == 200:
        return interaction_of(response.text)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/interaction/"), location
    return location


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return dict(jar)


def login(web: httpx.Client, interaction: str, username: str) -> httpx.Response:
    page = web.get(interaction)
    assert 'name="password"' in page.text, page.text
    return web.post(
        f"{interaction}/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
    )


def consent_page(web: httpx.Client, params: dict[str, str]) -> tuple[str, str]:
    """Start an authorization in a signed-in browser that must be asked; (URL, csrf)."""
    interaction = to_interaction(web.get("/authorize", params=params))
    page = web.get(interaction)
    assert page.status_code == 200, page.text
    assert 'name="decision"' in page.text, page.text
    return interaction, csrf_of(page.text)


def client_redirect(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The response is a 303 to ``redirect_uri``; return its query."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.split("?", 1)[0] == redirect_uri.split("?", 1)[0], location
    return query_of(location)


def is_postgres(server: LiveServer) -> bool:
    return server.settings.database_url.startswith("postgresql")


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def username(server: LiveServer) -> str:
    return make_user(server)


@pytest.fixture(scope="module")
def confidential(server: LiveServer) -> RegisteredClient:
    return make_client(server, redirect_uris=[REDIRECT])


@pytest.fixture(scope="module")
def public(server: LiveServer) -> RegisteredClient:
    return make_client(server, public=True, redirect_uris=[REDIRECT])


@pytest.fixture(scope="module")
def no_code_grant(server: LiveServer) -> RegisteredClient:
    return make_client(server, redirect_uris=[REDIRECT], grant_types=["client_credentials"])


@pytest.fixture(scope="module")
def signed_in(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    """A browser that signed in once (through a first-party client, so no consent)."""
    first_party = make_client(server, first_party=True)
    web = browser(server)
    _, challenge = pkce_pair()
    response = login_and_consent(web, authorize_params(first_party, challenge), username)
    assert "code" in client_redirect(response, REDIRECT)
    yield web
    web.close()


# -- the login page is the authorization endpoint's answer -------------------------------


def test_rfc6749_3_1_authorization_endpoint_answers_with_the_login_page(
    server: LiveServer, confidential: RegisteredClient, username: str
) -> None:
    """RFC 6749 §3.1: the endpoint authenticates the resource owner, here by answering with
    the login page itself (no redirect to it). The page binds the interaction to
    this browser (its cookie is set with the page), its forms post to the interaction, and
    the interaction's own URL shows the same form."""
    _, challenge = pkce_pair()
    with browser(server) as web:
        page = web.get("/authorize", params=authorize_params(confidential, challenge))
        assert page.status_code == 200, page.text
        assert "location" not in page.headers
        assert set_cookies(page)["ost_browser"]["httponly"]
        interaction = interaction_of(page.text)
        assert f'action="{interaction}/abort"' in page.text
        again = web.get(interaction)
        assert again.status_code == 200 and 'name="password"' in again.text
        assert csrf_of(again.text) == csrf_of(page.text)
        # Another browser cannot use it.
        with browser(server) as other:
            stolen = other.post(
                f"{interaction}/login",
                data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
            )
            assert_error_page(stolen)
        signed_in = web.post(
            f"{interaction}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == interaction  # consent follows


# -- before the redirect URI is trusted: a page, never a redirect ---------------------


UNSAFE = [
    pytest.param({"client_id": "no-such-client"}, "not registered here", id="unknown-client"),
    pytest.param({"client_id": DROP}, "no client_id", id="missing-client"),
    pytest.param(
        {"redirect_uri": "https://evil.example.net/callback"},
        "redirect_uri is not registered",
        id="unregistered-uri",
    ),
    pytest.param(
        {"redirect_uri": REDIRECT + "/"}, "redirect_uri is not registered", id="trailing-slash"
    ),
    pytest.param(
        {"redirect_uri": "https://app.example.com/Callback"},
        "redirect_uri is not registered",
        id="path-case",
    ),
    pytest.param(
        {"redirect_uri": "https://APP.example.com/callback"},
        "redirect_uri is not registered",
        id="host-case",
    ),
    pytest.param(
        {"redirect_uri": REDIRECT + "?next=https://evil.example.net"},
        "redirect_uri is not registered",
        id="extra-query",
    ),
    pytest.param(
        {"redirect_uri": REDIRECT + "#frag"}, "redirect_uri is not registered", id="fragment"
    ),
    pytest.param(
        {"redirect_uri": "http://app.example.com/callback"},
        "redirect_uri is not registered",
        id="http-downgrade",
    ),
    pytest.param(
        {"redirect_uri": "https://app.example.com:443/callback"},
        "redirect_uri is not registered",
        id="explicit-port",
    ),
    pytest.param(
        {"redirect_uri": "https://evil.example.net/callback", "response_type": "token"},
        "redirect_uri is not registered",
        id="bad-uri-wins-over-later-errors",
    ),
    # An unsigned request object proves nothing, its redirect URI included (RFC 9101
    # §10.5); tests/e2e/test_request_objects.py has the signed ones.
    pytest.param(
        {"request": "eyJhbGciOiJub25lIn0.e30."},
        "invalid_request_object",
        id="rfc9101_10_5-unsigned-request-object",
    ),
]


@pytest.mark.parametrize(("changes", "message"), UNSAFE)
def test_rfc6749_4_1_2_1_untrusted_client_or_redirect_uri_shows_page(
    server: LiveServer,
    confidential: RegisteredClient,
    changes: dict[str, object],
    message: str,
) -> None:
    _, challenge = pkce_pair()
    params = params_with(authorize_params(confidential, challenge), changes)
    with browser(server) as web:
        response = web.get("/authorize", params=params)
    assert_error_page(response)
    assert message in response.text
    assert "evil.example.net" not in response.text


def test_rfc6749_3_1_2_3_omitted_redirect_uri_with_two_registered_shows_page(
    server: LiveServer,
) -> None:
    client = make_client(server, redirect_uris=[REDIRECT, "https://app.example.com/other"])
    _, challenge = pkce_pair()
    params = params_with(authorize_params(client, challenge), {"redirect_uri": DROP})
    with browser(server) as web:
        response = web.get("/authorize", params=params)
    assert_error_page(response)
    assert "no redirect_uri" in response.text


def test_rfc6749_3_1_2_3_omitted_redirect_uri_with_one_registered(
    server: LiveServer, confidential: RegisteredClient, signed_in: httpx.Client
) -> None:
    verifier, challenge = pkce_pair()
    params = params_with(authorize_params(confidential, challenge), {"redirect_uri": DROP})
    interaction, csrf = consent_page(signed_in, params)
    response = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    query = client_redirect(response, REDIRECT)
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert query["state"] == params["state"]

    # RFC 6749 §4.1.3: redirect_uri is required at the token endpoint only if it was sent.
    with httpx.Client(base_url=server.base_url) as http:
        token = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "code_verifier": verifier,
            },
            auth=confidential.basic_auth(),
        )
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "read"


@pytest.mark.parametrize(
    ("name", "values"),
    [
        pytest.param("scope", ["read", "write"], id="scope"),
        pytest.param("state", ["a", "b"], id="state"),
        pytest.param("redirect_uri", [REDIRECT, REDIRECT], id="redirect_uri-same-twice"),
        pytest.param("response_type", ["code", "code"], id="response_type"),
        pytest.param("client_id", ["", "{client_id}"], id="client_id-once-empty"),
    ],
)
def test_rfc6749_3_1_repeated_parameter_shows_page(
    server: LiveServer, confidential: RegisteredClient, name: str, values: list[str]
) -> None:
    _, challenge = pkce_pair()
    base = authorize_params(confidential, challenge)
    pairs = [(k, v) for k, v in base.items() if k != name]
    pairs += [(name, v.format(client_id=confidential.client_id)) for v in values]
    query = urlencode(pairs)
    with browser(server) as web:
        response = web.get(f"/authorize?{query}")
        posted = web.post(
            "/authorize",
            content=query,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    for result in (response, posted):
        assert_error_page(result)
        assert "repeated" in result.text


# -- after the redirect URI is trusted: errors go back to the client -----------------


REDIRECTED_ERRORS = [
    pytest.param("confidential", {"response_type": DROP}, "invalid_request", id="no-resp-type"),
    pytest.param(
        "confidential", {"response_type": "token"}, "unsupported_response_type", id="implicit"
    ),
    pytest.param(
        "confidential",
        {"response_type": "code token"},
        "unsupported_response_type",
        id="hybrid",
    ),
    pytest.param("confidential", {"scope": "read admin"}, "invalid_scope", id="unreg-scope"),
    pytest.param("confidential", {"scope": 'read "x'}, "invalid_scope", id="bad-scope-chars"),
    pytest.param("confidential", {"code_challenge_method": "plain"}, "invalid_request", id="plain"),
    pytest.param(
        "confidential",
        {"code_challenge_method": DROP},
        "invalid_request",
        id="method-defaults-to-plain",
    ),
    pytest.param(
        "confidential",
        {"code_challenge": DROP},
        "invalid_request",
        id="method-without-challenge",
    ),
    pytest.param(
        "confidential", {"code_challenge": "too-short"}, "invalid_request", id="short-challenge"
    ),
    pytest.param(
        "confidential",
        {"code_challenge": "+" * 43},
        "invalid_request",
        id="challenge-not-base64url",
    ),
    pytest.param(
        "confidential", {"code_challenge": "A" * 44}, "invalid_request", id="long-challenge"
    ),
    # A request object by reference; a PAR request_uri is tests/e2e/test_par_flow.py's.
    pytest.param(
        "confidential",
        {"request_uri": "https://app.example.com/request.jwt"},
        "request_uri_not_supported",
        id="request-uri-by-reference",
    ),
    pytest.param(
        "confidential", {"response_mode": "fragment"}, "invalid_request", id="fragment-mode"
    ),
    pytest.param(
        "confidential", {"response_mode": "fragment.jwt"}, "invalid_request", id="jarm-mode"
    ),
    pytest.param(
        "public",
        {"code_challenge": DROP, "code_challenge_method": DROP},
        "invalid_request",
        id="public-without-pkce",
    ),
    pytest.param("no_code_grant", {}, "unauthorized_client", id="client-without-code-grant"),
]


@pytest.mark.parametrize(("kind", "changes", "error"), REDIRECTED_ERRORS)
def test_rfc6749_4_1_2_1_error_redirects_with_state_and_iss(
    server: LiveServer,
    request: pytest.FixtureRequest,
    kind: str,
    changes: dict[str, object],
    error: str,
) -> None:
    client: RegisteredClient = request.getfixturevalue(kind)
    _, challenge = pkce_pair()
    params = params_with(authorize_params(client, challenge), changes)
    with browser(server) as web:
        response = web.get("/authorize", params=params)
    query = client_redirect(response, REDIRECT)
    assert query["error"] == error
    assert query["state"] == params["state"]
    assert query["iss"] == server.base_url
    assert "code" not in query
    assert response.headers["cache-control"] == "no-store"


def test_rfc6749_4_1_2_1_error_redirect_without_state_has_no_state(
    server: LiveServer, confidential: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    params = params_with(
        authorize_params(confidential, challenge), {"state": DROP, "response_type": "token"}
    )
    with browser(server) as web:
        query = client_redirect(web.get("/authorize", params=params), REDIRECT)
    assert query["error"] == "unsupported_response_type"
    assert "state" not in query


def test_rfc6749_3_1_authorization_request_by_post(
    server: LiveServer, confidential: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(confidential, challenge, scope="admin")
    with browser(server) as web:
        bad = web.post("/authorize", data=params)
        good = web.post("/authorize", data=authorize_params(confidential, challenge))
    assert client_redirect(bad, REDIRECT)["error"] == "invalid_scope"
    to_interaction(good)


# -- RFC 8252 §7.3 loopback redirect URIs ----------------------------------------------


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.1:53124/cb", id="ipv4-any-port"),
        pytest.param("http://127.0.0.1/cb", "http://127.0.0.1/cb", id="ipv4-no-port"),
        pytest.param("http://[::1]/cb", "http://[::1]:61000/cb", id="ipv6-any-port"),
    ],
)
def test_rfc8252_7_3_loopback_port_may_vary(
    server: LiveServer, signed_in: httpx.Client, registered: str, requested: str
) -> None:
    native = make_client(server, public=True, redirect_uris=[registered])
    verifier, challenge = pkce_pair()
    params = authorize_params(native, challenge, redirect_uri=requested)
    interaction, csrf = consent_page(signed_in, params)
    response = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(requested + "?")
    code = query_of(response.headers["location"])["code"]
    with httpx.Client(base_url=server.base_url) as http:
        token = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "client_id": native.client_id,
                "code": code,
                "redirect_uri": requested,
                "code_verifier": verifier,
            },
        )
    assert token.status_code == 200, token.text


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("http://localhost:53124/cb", id="localhost-name"),
        pytest.param("http://127.0.0.2:53124/cb", id="other-loopback-ip"),
        pytest.param("http://127.0.0.1:53124/cb/", id="path-differs"),
        pytest.param("http://127.0.0.1:53124/cb?x=1", id="query-added"),
        pytest.param("https://127.0.0.1:53124/cb", id="scheme-differs"),
        pytest.param("http://user@127.0.0.1:53124/cb", id="userinfo"),
        pytest.param("http://127.0.0.1:99999/cb", id="invalid-port"),
    ],
)
def test_rfc8252_7_3_only_the_port_may_vary(server: LiveServer, requested: str) -> None:
    native = make_client(server, public=True, redirect_uris=["http://127.0.0.1/cb"])
    _, challenge = pkce_pair()
    with browser(server) as web:
        response = web.get(
            "/authorize", params=authorize_params(native, challenge, redirect_uri=requested)
        )
    assert_error_page(response)


# -- the authorization response ------------------------------------------------------


def test_rfc6749_3_1_2_registered_query_is_kept_in_responses(
    server: LiveServer, signed_in: httpx.Client
) -> None:
    registered = "https://app.example.com/cb?tenant=acme"
    client = make_client(server, redirect_uris=[registered])
    _, challenge = pkce_pair()
    with browser(server) as web:
        failed = web.get("/authorize", params=authorize_params(client, challenge, scope="nope"))
    assert failed.headers["location"].startswith(registered + "&")
    error = query_of(failed.headers["location"])
    assert error["tenant"] == "acme"
    assert error["error"] == "invalid_scope"

    params = authorize_params(client, challenge)
    interaction, csrf = consent_page(signed_in, params)
    response = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    assert response.headers["location"].startswith(registered + "&")
    query = query_of(response.headers["location"])
    assert query["tenant"] == "acme"
    assert query["state"] == params["state"]
    assert query["code"].startswith("ost_ac_")


def test_rfc9207_2_authorization_response_carries_iss(
    server: LiveServer, signed_in: httpx.Client
) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    interaction, csrf = consent_page(signed_in, params)
    response = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    query = client_redirect(response, REDIRECT)
    assert query["iss"] == server.base_url
    assert query["state"] == params["state"]
    assert set(query) == {"code", "state", "iss"}
    # RFC 9700 §4.12: 303 so the browser does not re-POST the form to the client.
    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"

    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server").json()
    assert query["iss"] == metadata["issuer"]


# -- the user says no ------------------------------------------------------------------


def test_rfc6749_4_1_2_1_consent_denied_is_access_denied(
    server: LiveServer, signed_in: httpx.Client, username: str
) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    interaction, csrf = consent_page(signed_in, params)
    response = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "deny"})
    query = client_redirect(response, REDIRECT)
    assert query["error"] == "access_denied"
    assert query["state"] == params["state"]
    assert query["iss"] == server.base_url
    assert "code" not in query

    # Nothing was remembered: the next request asks again.
    async def granted(services: Services) -> frozenset[str] | None:
        user = await services.store.users.by_username(username)
        assert user is not None
        return await services.store.consents.granted(user.id, client.client_id)

    assert server.call(granted) is None
    consent_page(signed_in, authorize_params(client, challenge))
    # The interaction is finished.
    assert_error_page(signed_in.get(interaction))


def test_rfc6749_4_1_2_1_cancel_at_login_is_access_denied(
    server: LiveServer, confidential: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(confidential, challenge)
    with browser(server) as web:
        interaction = to_interaction(web.get("/authorize", params=params))
        page = web.get(interaction)
        assert 'name="password"' in page.text
        response = web.post(f"{interaction}/abort", data={"csrf": csrf_of(page.text)})
        query = client_redirect(response, REDIRECT)
        assert query == {
            "error": "access_denied",
            "error_description": "the user denied the request",
            "state": params["state"],
            "iss": server.base_url,
        }
        assert SESSION not in set_cookies(response)
        assert_error_page(web.get(interaction))


# -- consent -----------------------------------------------------------------------------


def test_rfc6749_4_1_1_remembered_consent_skips_the_page_until_scope_grows(
    server: LiveServer, signed_in: httpx.Client
) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    first = authorize_params(client, challenge, scope="read")
    interaction, csrf = consent_page(signed_in, first)
    allowed = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    assert "code" in client_redirect(allowed, REDIRECT)

    # Same scope, same signed-in browser: straight back to the client with a code.
    again = authorize_params(client, challenge, scope="read")
    response = signed_in.get("/authorize", params=again)
    query = client_redirect(response, REDIRECT)
    assert query["code"].startswith("ost_ac_")
    assert query["state"] == again["state"]
    assert query["iss"] == server.base_url

    # A scope not yet allowed: the consent page again, listing what is asked.
    wider = authorize_params(client, challenge, scope="read write")
    interaction, csrf = consent_page(signed_in, wider)
    page = signed_in.get(interaction)
    assert "<code>write</code>" in page.text
    allowed = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    assert "code" in client_redirect(allowed, REDIRECT)

    # Consent accumulates: each subset is now remembered.
    for scope in ("write", "read write", "read"):
        direct = signed_in.get(
            "/authorize", params=authorize_params(client, challenge, scope=scope)
        )
        assert "code" in client_redirect(direct, REDIRECT), scope


def test_rfc6749_4_1_1_consent_is_per_user(server: LiveServer, signed_in: httpx.Client) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    interaction, csrf = consent_page(signed_in, authorize_params(client, challenge))
    signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})

    other_user = make_user(server)
    with browser(server) as web:
        interaction = to_interaction(
            web.get("/authorize", params=authorize_params(client, challenge))
        )
        assert login(web, interaction, other_user).status_code == 303
        page = web.get(interaction)
    assert page.status_code == 200
    assert 'name="decision"' in page.text


def test_rfc6749_4_1_1_first_party_client_never_asks_consent(
    server: LiveServer, username: str
) -> None:
    client = make_client(server, first_party=True)
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="read write")
    with browser(server) as web:
        interaction = to_interaction(web.get("/authorize", params=params))
        # Nothing to ask: the code goes to the client straight from the login POST.
        finished = login(web, interaction, username)
        query = client_redirect(finished, REDIRECT)
        assert query["state"] == params["state"]
        assert query["code"].startswith("ost_ac_")
        # Signed in now: the next request does not even show an interaction.
        direct = web.get("/authorize", params=authorize_params(client, challenge))
        assert "code" in client_redirect(direct, REDIRECT)


def test_rfc9700_4_12_login_post_is_followed_by_a_get_when_consent_follows(
    server: LiveServer, username: str
) -> None:
    """After the password POST: straight to the client when nothing is left to ask (above),
    else a 303 to the interaction page, so the consent page is the answer to a GET."""
    client = make_client(server)
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="read")
    with browser(server) as web:
        interaction = to_interaction(web.get("/authorize", params=params))
        posted = login(web, interaction, username)
        assert posted.status_code == 303
        assert posted.headers["location"] == interaction
        assert SESSION in set_cookies(posted)
        consent = web.get(interaction)
        assert 'name="decision"' in consent.text, consent.text
        query = client_redirect(
            web.post(
                f"{interaction}/consent",
                data={"csrf": csrf_of(consent.text), "decision": "allow"},
            ),
            REDIRECT,
        )
        assert query["code"].startswith("ost_ac_")
        assert query["state"] == params["state"]


# -- the login form ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def disabled_username(server: LiveServer) -> str:
    name = make_user(server)

    async def disable(services: Services) -> None:
        user = await services.store.users.by_username(name)
        assert user is not None
        await services.store.users.set_disabled(user.id, True)

    server.call(disable)
    return name


@pytest.mark.parametrize(
    ("who", "password"),
    [
        pytest.param("user", "wrong password", id="wrong-password"),
        pytest.param("user", PASSWORD.upper(), id="password-case"),
        pytest.param("nobody-by-this-name", PASSWORD, id="unknown-user"),
        pytest.param("disabled", PASSWORD, id="disabled-user"),
    ],
)
def test_rfc6749_3_1_login_refused_shows_401_page_without_session(
    server: LiveServer,
    confidential: RegisteredClient,
    username: str,
    disabled_username: str,
    who: str,
    password: str,
) -> None:
    name = {"user": username, "disabled": disabled_username}.get(who, who)
    _, challenge = pkce_pair()
    with browser(server) as web:
        interaction = to_interaction(
            web.get("/authorize", params=authorize_params(confidential, challenge))
        )
        page = web.get(interaction)
        response = web.post(
            f"{interaction}/login",
            data={"csrf": csrf_of(page.text), "username": name, "password": password},
        )
        assert response.status_code == 401
        assert "location" not in response.headers
        # The same words whatever went wrong: no hint whether the account exists.
        assert "Wrong username or password." in response.text
        assert 'name="password"' in response.text
        assert SESSION not in set_cookies(response)
        assert SESSION not in web.cookies
        # Still on the login page: nothing was granted.
        again = web.get(interaction)
        assert 'name="password"' in again.text


# -- CSRF and binding to the browser ------------------------------------------------------


BAD_CSRF = [
    pytest.param(None, id="missing"),
    pytest.param("wrong", id="garbage"),
    pytest.param("0" * 64, id="right-shape"),
    pytest.param("other-interaction", id="from-another-interaction"),
]


def _bad_csrf(web: httpx.Client, params: dict[str, str], kind: str | None) -> dict[str, str]:
    if kind is None:
        return {}
    if kind != "other-interaction":
        return {"csrf": kind}
    other = to_interaction(web.get("/authorize", params=params))
    return {"csrf": csrf_of(web.get(other).text)}


@pytest.mark.parametrize("bad", BAD_CSRF)
@pytest.mark.parametrize("action", ["login", "abort"])
def test_rfc6749_10_12_csrf_on_login_and_cancel_forms(
    server: LiveServer,
    confidential: RegisteredClient,
    username: str,
    action: str,
    bad: str | None,
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(confidential, challenge)
    with browser(server) as web:
        interaction = to_interaction(web.get("/authorize", params=params))
        form = {"username": username, "password": PASSWORD, **_bad_csrf(web, params, bad)}
        response = web.post(f"{interaction}/{action}", data=form)
        assert_error_page(response, 403)
        assert SESSION not in set_cookies(response)
        # Nothing happened: still the login page of a live interaction.
        assert 'name="password"' in web.get(interaction).text


@pytest.mark.parametrize("bad", BAD_CSRF)
def test_rfc6749_10_12_csrf_on_consent_form(
    server: LiveServer, signed_in: httpx.Client, bad: str | None
) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    interaction, _ = consent_page(signed_in, params)
    form = {"decision": "allow", **_bad_csrf(signed_in, params, bad)}
    response = signed_in.post(f"{interaction}/consent", data=form)
    assert_error_page(response, 403)
    # No code, no remembered consent: the consent page is still there.
    assert 'name="decision"' in signed_in.get(interaction).text
    assert "location" not in response.headers


@pytest.mark.parametrize("other", ["no-cookie", "other-browser"])
def test_rfc9700_4_7_interaction_is_bound_to_its_browser(
    server: LiveServer, confidential: RegisteredClient, username: str, other: str
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(confidential, challenge)
    with browser(server) as victim, browser(server) as attacker:
        interaction = to_interaction(victim.get("/authorize", params=params))
        csrf = csrf_of(victim.get(interaction).text)
        if other == "other-browser":
            to_interaction(attacker.get("/authorize", params=params))
            assert "ost_browser" in attacker.cookies
        page = attacker.get(interaction)
        assert_error_page(page)
        assert "another browser" in page.text
        stolen = attacker.post(
            f"{interaction}/login",
            data={"csrf": csrf, "username": username, "password": PASSWORD},
        )
        assert_error_page(stolen)
        assert SESSION not in set_cookies(stolen)
        # The rightful browser is unaffected.
        assert 'name="password"' in victim.get(interaction).text


def test_rfc6749_10_12_interaction_is_single_use(
    server: LiveServer, signed_in: httpx.Client
) -> None:
    client = make_client(server)
    _, challenge = pkce_pair()
    interaction, csrf = consent_page(signed_in, authorize_params(client, challenge))
    done = signed_in.post(f"{interaction}/consent", data={"csrf": csrf, "decision": "allow"})
    assert "code" in client_redirect(done, REDIRECT)

    page = signed_in.get(interaction)
    assert_error_page(page)
    assert "expired" in page.text
    for action in ("consent", "login", "abort"):
        again = signed_in.post(f"{interaction}/{action}", data={"csrf": csrf, "decision": "allow"})
        assert_error_page(again)


def test_rfc6749_10_12_expired_interaction_shows_page(
    server: LiveServer, confidential: RegisteredClient, username: str
) -> None:
    _, challenge = pkce_pair()
    with browser(server) as web:
        interaction = to_interaction(
            web.get("/authorize", params=authorize_params(confidential, challenge))
        )
        csrf = csrf_of(web.get(interaction).text)

        async def expire(services: Services) -> int:
            async with services.engine.begin() as conn:
                result = await conn.execute(
                    update(interactions)
                    .where(interactions.c.id == interaction.rsplit("/", 1)[1])
                    .values(expires_at=clock.now() - 1)
                )
            return result.rowcount

        assert server.call(expire) == 1
        page = web.get(interaction)
        assert_error_page(page)
        assert "expired" in page.text
        late = web.post(
            f"{interaction}/login",
            data={"csrf": csrf, "username": username, "password": PASSWORD},
        )
        assert_error_page(late)
        assert SESSION not in set_cookies(late)


def test_rfc6749_4_1_2_1_interaction_id_with_nul_is_a_page_not_500(
    server: LiveServer, request: pytest.FixtureRequest
) -> None:
    with browser(server) as web:
        web.cookies.set("ost_browser", "some-browser")
        page = web.get("/interaction/abc%00def")
        # Starlette logs an unhandled error only after sending the 500. One more round trip
        # lets the server thread finish formatting that traceback before pytest formats
        # this test's failure: CPython 3.11's ast.parse is not thread-safe (gh-106905) and
        # the clash aborts the whole run with an INTERNALERROR.
        assert web.get("/health").status_code == 200
    assert page.status_code == 400


# -- the session cookie ----------------------------------------------------------------


def test_rfc6265_4_1_2_session_cookie_attributes_and_rotation(
    server: LiveServer, confidential: RegisteredClient, username: str
) -> None:
    first_party = make_client(server, first_party=True)
    _, challenge = pkce_pair()
    with browser(server) as web:
        # A session id planted before login is not adopted (session fixation).
        web.cookies.set(SESSION, "ost_ss_planted-by-an-attacker")
        interaction = to_interaction(
            web.get("/authorize", params=authorize_params(confidential, challenge))
        )
        response = login(web, interaction, username)
        assert response.status_code == 303
        cookie = set_cookies(response)[SESSION]
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "lax"
        assert cookie["path"] == "/"
        assert int(cookie["max-age"]) == server.settings.sessions.ttl
        first_session = cookie.value
        assert first_session != "ost_ss_planted-by-an-attacker"

        browser_cookie = set_cookies(
            web.get("/authorize", params=authorize_params(make_client(server), challenge))
        )["ost_browser"]
        assert browser_cookie["httponly"] is True
        assert browser_cookie["samesite"].lower() == "lax"

        # Log in again from a consent page (same interaction, same CSRF token).
        interaction, csrf = consent_page(web, authorize_params(make_client(server), challenge))
        relogin = web.post(
            f"{interaction}/login",
            data={"csrf": csrf, "username": username, "password": PASSWORD},
        )
        assert relogin.status_code == 303
        second_session = set_cookies(relogin)[SESSION].value
        assert second_session != first_session

    # The old session id no longer signs anyone in; the new one does.
    for session, expect_signed_in in ((first_session, False), (second_session, True)):
        with browser(server) as web:
            web.cookies.set(SESSION, session)
            response = web.get("/authorize", params=authorize_params(first_party, challenge))
            if expect_signed_in:
                assert response.status_code == 303
                assert response.headers["location"].startswith(REDIRECT)
            else:  # the login page
                assert response.status_code == 200 and 'name="password"' in response.text


# -- headers on every page a person sees ------------------------------------------------


def _login_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    _, challenge = pkce_pair()
    client = make_client(server)
    return web.get(
        to_interaction(web.get("/authorize", params=authorize_params(client, challenge)))
    )


def _authorize_login_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    _, challenge = pkce_pair()
    return web.get("/authorize", params=authorize_params(make_client(server), challenge))


def _failed_login_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    _, challenge = pkce_pair()
    client = make_client(server)
    interaction = to_interaction(web.get("/authorize", params=authorize_params(client, challenge)))
    csrf = csrf_of(web.get(interaction).text)
    return web.post(
        f"{interaction}/login", data={"csrf": csrf, "username": "nobody", "password": "x"}
    )


def _error_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    return web.get("/authorize", params={"client_id": "unknown", "response_type": "code"})


def _expired_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    return web.get("/interaction/does-not-exist")


def _csrf_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    _, challenge = pkce_pair()
    client = make_client(server)
    interaction = to_interaction(web.get("/authorize", params=authorize_params(client, challenge)))
    return web.post(f"{interaction}/login", data={"username": "x"})


def _consent_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    _, challenge = pkce_pair()
    interaction, _ = consent_page(web, authorize_params(make_client(server), challenge))
    return web.get(interaction)


def _logout_page(server: LiveServer, web: httpx.Client) -> httpx.Response:
    return web.get("/logout")


PAGES = {
    "login": (_login_page, 200),
    "login-at-authorize": (_authorize_login_page, 200),
    "failed-login": (_failed_login_page, 401),
    "error": (_error_page, 400),
    "expired": (_expired_page, 400),
    "csrf": (_csrf_page, 403),
    "consent": (_consent_page, 200),
    "logout": (_logout_page, 200),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_rfc9700_4_2_4_16_pages_forbid_framing_caching_and_referrers(
    server: LiveServer, signed_in: httpx.Client, name: str
) -> None:
    make, status = PAGES[name]
    if name == "consent":
        response = make(server, signed_in)
    else:
        with browser(server) as web:
            response = make(server, web)
    assert response.status_code == status, response.text
    headers = response.headers
    assert headers["content-type"].startswith("text/html")
    csp = [d.strip() for d in headers["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
