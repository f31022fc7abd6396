"""Pushed authorization requests (RFC 9126) against real servers: Authlib's OAuth 2.0
client authenticates at /par as it would at /token and redeems the code, a browser signs in
through /authorize with nothing but client_id and the request_uri, and two servers on one
database share the pushed requests (pushed to one, used at the other, used once in all)."""

from __future__ import annotations

import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, free_port, own_server, server_settings, start_server
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
    from authlib.jose import JsonWebKey
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

URN = "urn:ietf:params:oauth:request_uri:"
REDIRECT = "https://app.example.com/callback"
UNKNOWN = "invalid_request_uri"


def register(server: LiveServer, **spec: Any) -> RegisteredClient:
    values: dict[str, Any] = {
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "read"],
        "redirect_uris": [REDIRECT],
    }
    values.update(spec)
    return make_client(server, **values)


def oauth_client(client: RegisteredClient, method: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=client.client_id,
        client_secret=client.secret,
        redirect_uri=client.redirect_uri,
        token_endpoint_auth_method=method,
        timeout=30,
    )


def request_params(client: RegisteredClient, challenge: str, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid read",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def push(oauth: OAuth2Client, base_url: str, params: dict[str, str], method: str) -> httpx.Response:
    """POST /par authenticated by Authlib's client authentication, which adds client_id
    itself for client_secret_post and none; Basic and assertions leave it to the body, where
    §2.1 wants it."""
    if method not in ("client_secret_post", "none"):
        params = {"client_id": oauth.client_id, **params}
    auth = oauth.client_auth(oauth.token_endpoint_auth_method)
    return oauth.post(f"{base_url}/par", data=params, auth=auth)


def pushed(response: httpx.Response) -> str:
    """§2.2: 201, JSON, not to be cached; the request_uri."""
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith(URN)
    return str(body["request_uri"])


def by_reference(client: RegisteredClient, request_uri: str) -> dict[str, str]:
    """§4: the authorization request is client_id and request_uri, nothing else."""
    return {"client_id": client.client_id, "request_uri": request_uri}


def refused_page(response: httpx.Response) -> None:
    """An error page, not a redirect to any client (§4: the request is unknown)."""
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert UNKNOWN in response.text


@pytest.mark.parametrize(
    ("method", "public"),
    [("client_secret_basic", False), ("client_secret_post", False), ("none", True)],
)
def test_rfc9126_full_flow_push_authorize_sign_in_code_token(
    server: LiveServer, method: str, public: bool
) -> None:
    """§2 to §4 with Authlib: the push authenticated as at the token endpoint, the browser
    sent with the request_uri only, the code carrying the pushed state, redeemed with the
    pushed redirect URI and the verifier of the pushed challenge."""
    spec: dict[str, Any] = {"public": True} if public else {"auth_method": method}
    client = register(server, **spec)
    username = make_user(server)
    verifier, challenge = pkce_pair()
    params = request_params(client, challenge)

    with oauth_client(client, method) as oauth:
        request_uri = pushed(push(oauth, server.base_url, params, method))
        with browser(server) as web:
            answer = login_and_consent(web, by_reference(client, request_uri), username)
        assert answer.status_code == 303, answer.text
        query = query_of(answer.headers["location"])
        assert answer.headers["location"].startswith(REDIRECT + "?")
        assert query["state"] == params["state"] and query["iss"] == server.base_url
        token = oauth.fetch_token(
            f"{server.base_url}/token",
            grant_type="authorization_code",
            code=query["code"],
            code_verifier=verifier,
        )

    assert token["token_type"].lower() == "bearer"
    assert token["scope"] == "openid read"
    assert token["access_token"] and token["id_token"]


@pytest.mark.parametrize("audience", ["par", "issuer"])
def test_rfc9126_2_private_key_jwt_at_par_with_either_audience(
    server: LiveServer, audience: str
) -> None:
    """§2: client authentication as at the token endpoint, a signed assertion included; the
    issuer MUST be accepted as its audience, the PAR endpoint's URL SHOULD be. The assertion
    is not part of the request: the code is redeemed with a new one."""
    key = JsonWebKey.generate_key("RSA", 2048, {"kid": secrets.token_hex(4)}, is_private=True)
    client = register(
        server, auth_method="private_key_jwt", jwks={"keys": [key.as_dict(is_private=False)]}
    )
    username = make_user(server)
    verifier, challenge = pkce_pair()
    at_par = f"{server.base_url}/par" if audience == "par" else server.base_url

    def short() -> dict[str, int]:
        # Ostiary takes assertions living five minutes at most; Authlib's live an hour.
        # A dict each: Authlib writes the jti it makes into it, so a shared one would have
        # both clients sign the same jti (refused the second time, rightly).
        return {"exp": int(time.time()) + 120}

    pushing = OAuth2Client(
        client.client_id,
        key.as_pem(is_private=True),
        redirect_uri=REDIRECT,
        token_endpoint_auth_method=PrivateKeyJWT(at_par, claims=short()),
    )
    redeeming = OAuth2Client(
        client.client_id,
        key.as_pem(is_private=True),
        redirect_uri=REDIRECT,
        token_endpoint_auth_method=PrivateKeyJWT(f"{server.base_url}/token", claims=short()),
    )

    with pushing, redeeming:
        params = request_params(client, challenge)
        request_uri = pushed(push(pushing, server.base_url, params, "private_key_jwt"))
        with browser(server) as web:
            answer = login_and_consent(web, by_reference(client, request_uri), username)
        token = redeeming.fetch_token(
            f"{server.base_url}/token",
            grant_type="authorization_code",
            code=query_of(answer.headers["location"])["code"],
            code_verifier=verifier,
        )

    assert token["access_token"]


def test_rfc9126_4_request_uri_is_used_once_and_other_query_parameters_are_ignored(
    server: LiveServer,
) -> None:
    client = register(server)
    username = make_user(server)
    _, challenge = pkce_pair()
    params = request_params(client, challenge, state="pushed-state")

    with oauth_client(client, "client_secret_basic") as oauth:
        request_uri = pushed(push(oauth, server.base_url, params, "client_secret_basic"))
    query = {
        **by_reference(client, request_uri),
        "state": "query-state",
        "scope": "read",
        "response_type": "code",
    }
    with browser(server) as web:
        answer = login_and_consent(web, query, username)
        again = web.get("/authorize", params=query)

    assert query_of(answer.headers["location"])["state"] == "pushed-state"
    refused_page(again)


def test_rfc9126_4_without_client_id_or_with_another_clients_id_is_a_page(
    server: LiveServer,
) -> None:
    client, other = register(server), register(server)
    _, challenge = pkce_pair()
    with oauth_client(client, "client_secret_basic") as oauth:
        request_uri = pushed(
            push(oauth, server.base_url, request_params(client, challenge), "client_secret_basic")
        )

    with browser(server) as web:
        missing = web.get("/authorize", params={"request_uri": request_uri})
        foreign = web.get("/authorize", params=by_reference(other, request_uri))
        # Neither used it up.
        rightful = web.get("/authorize", params=by_reference(client, request_uri))

    assert missing.status_code == 400 and "location" not in missing.headers
    refused_page(foreign)
    assert rightful.status_code == 200 and 'name="password"' in rightful.text


@pytest.mark.parametrize(
    ("change", "auth", "status", "error"),
    [
        pytest.param({"redirect_uri": "https://evil.example.com/cb"}, "basic", 400,
                     "invalid_request", id="unregistered-redirect-uri"),
        pytest.param({"response_type": "token"}, "basic", 400, "unsupported_response_type",
                     id="implicit"),
        pytest.param({"scope": "openid admin"}, "basic", 400, "invalid_scope", id="scope"),
        pytest.param({"request_uri": URN + "x"}, "basic", 400, "invalid_request",
                     id="s2_1-request-uri-pushed"),
        pytest.param({}, "wrong-secret", 401, "invalid_client", id="wrong-secret"),
        pytest.param({}, "none", 401, "invalid_client", id="no-authentication"),
    ],
)  # fmt: skip
def test_rfc9126_2_3_errors_are_rfc6749_5_2_json(
    server: LiveServer, change: dict[str, str], auth: str, status: int, error: str
) -> None:
    client = register(server)
    _, challenge = pkce_pair()
    params = {"client_id": client.client_id, **request_params(client, challenge), **change}
    credentials = {
        "basic": client.basic_auth(),
        "wrong-secret": (client.client_id, "not-the-secret"),
    }.get(auth)

    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.post("/par", data=params, auth=credentials)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error
    if auth == "wrong-secret":
        assert response.headers["www-authenticate"].startswith("Basic")


def test_rfc9126_2_3_only_post_with_a_form(server: LiveServer) -> None:
    client = register(server)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        get = http.get("/par")
        as_json = http.post("/par", json={"client_id": client.client_id}, auth=client.basic_auth())
        repeated = http.post(
            "/par",
            content=f"client_id={client.client_id}&scope=read&scope=openid",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=client.basic_auth(),
        )

    assert get.status_code == 405 and get.headers["allow"] == "POST"
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert repeated.status_code == 400
    assert repeated.json()["error_description"] == "parameter 'scope' is repeated"


def test_rfc9126_2_3_par_is_rate_limited_as_the_token_endpoint(database_url: str) -> None:
    """§2.3 (429): the token endpoint's per-address limit holds at /par. The run's other
    servers may have counted 127.0.0.1 already, so only the last answer is certain."""
    limits = {"token": {"requests": 2, "window": 86400}}
    with own_server(database_url, rate_limits=limits) as limited:
        client = register(limited)
        with httpx.Client(base_url=limited.base_url, timeout=30) as http:
            answers = [
                http.post("/par", data={"client_id": client.client_id}, auth=client.basic_auth())
                for _ in range(3)
            ]

    last = answers[-1]
    assert last.status_code == 429, last.text
    assert last.json()["error"] == "temporarily_unavailable"
    assert int(last.headers["retry-after"]) > 0


# -- §5, §6: PAR required ------------------------------------------------------------------


@pytest.fixture(scope="module")
def par_only(database_url: str) -> Iterator[LiveServer]:
    with own_server(database_url, require_par=True) as live:
        yield live


def test_rfc9126_5_required_by_the_server_a_plain_request_is_refused(
    par_only: LiveServer,
) -> None:
    client = register(par_only)
    _, challenge = pkce_pair()
    params = {"client_id": client.client_id, **request_params(client, challenge)}

    with browser(par_only) as web:
        plain = web.get("/authorize", params=params)
        unregistered = web.get(
            "/authorize", params={**params, "redirect_uri": "https://evil.example.com/cb"}
        )
    metadata = httpx.get(f"{par_only.base_url}/.well-known/oauth-authorization-server").json()

    assert plain.status_code == 303
    assert plain.headers["location"].startswith(REDIRECT + "?")
    sent = query_of(plain.headers["location"])
    assert (sent["error"], sent["error_description"]) == (
        "invalid_request",
        "pushed authorization request required",
    )
    # No redirect to a URI the client never registered.
    assert unregistered.status_code == 400 and "location" not in unregistered.headers
    assert metadata["require_pushed_authorization_requests"] is True
    assert metadata["pushed_authorization_request_endpoint"] == f"{par_only.base_url}/par"


def test_rfc9126_5_required_by_the_server_the_pushed_flow_goes_through(
    par_only: LiveServer,
) -> None:
    client = register(par_only)
    username = make_user(par_only)
    verifier, challenge = pkce_pair()

    with oauth_client(client, "client_secret_basic") as oauth:
        params = request_params(client, challenge)
        request_uri = pushed(push(oauth, par_only.base_url, params, "client_secret_basic"))
        with browser(par_only) as web:
            answer = login_and_consent(web, by_reference(client, request_uri), username)
        code = query_of(answer.headers["location"])["code"]
        token = oauth.fetch_token(
            f"{par_only.base_url}/token",
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
        )

    assert token["access_token"]


def test_rfc9126_6_required_for_one_client(server: LiveServer) -> None:
    held = register(server, require_pushed_authorization_requests=True)
    _, challenge = pkce_pair()

    with browser(server) as web:
        plain = web.get(
            "/authorize", params={"client_id": held.client_id, **request_params(held, challenge)}
        )

    assert plain.status_code == 303
    assert query_of(plain.headers["location"])["error"] == "invalid_request"


# -- two nodes, one database -----------------------------------------------------------------


@pytest.fixture(scope="module")
def two_nodes(database_url: str) -> Iterator[tuple[LiveServer, str, LiveServer, str]]:
    """Two servers on the run's database behind one issuer (as behind a load balancer):
    each with the address it is reached at."""
    ports = free_port(), free_port()
    issuer = f"http://127.0.0.1:{ports[0]}"
    started = [
        start_server(server_settings(database_url, port, issuer=issuer), port) for port in ports
    ]
    try:
        (a, _), (b, _) = started
        yield a, f"http://127.0.0.1:{ports[0]}", b, f"http://127.0.0.1:{ports[1]}"
    finally:
        for _, stop in started:
            stop()


def node_browser(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, follow_redirects=False, timeout=30)


def test_rfc9126_4_pushed_to_one_node_used_at_another_and_once_in_all(
    two_nodes: tuple[LiveServer, str, LiveServer, str],
) -> None:
    a, a_url, _, b_url = two_nodes
    client = register(a)
    username = make_user(a)
    verifier, challenge = pkce_pair()

    with oauth_client(client, "client_secret_basic") as oauth:
        params = request_params(client, challenge)
        request_uri = pushed(push(oauth, a_url, params, "client_secret_basic"))
        with node_browser(b_url) as web:
            answer = login_and_consent(web, by_reference(client, request_uri), username)
        code = query_of(answer.headers["location"])["code"]
        token = oauth.fetch_token(
            f"{a_url}/token", grant_type="authorization_code", code=code, code_verifier=verifier
        )
    with node_browser(a_url) as at_a, node_browser(b_url) as at_b:
        again_a = at_a.get("/authorize", params=by_reference(client, request_uri))
        again_b = at_b.get("/authorize", params=by_reference(client, request_uri))

    assert token["access_token"]
    refused_page(again_a)
    refused_page(again_b)


def test_rfc9126_4_two_nodes_given_the_same_request_uri_at_once_one_goes_on(
    two_nodes: tuple[LiveServer, str, LiveServer, str],
) -> None:
    a, a_url, _, b_url = two_nodes
    client = register(a)
    _, challenge = pkce_pair()
    with oauth_client(client, "client_secret_basic") as oauth:
        request_uri = pushed(
            push(oauth, b_url, request_params(client, challenge), "client_secret_basic")
        )
    start = threading.Barrier(2)
    answers: dict[str, httpx.Response] = {}

    def open_at(url: str) -> None:
        with node_browser(url) as web:
            start.wait()
            answers[url] = web.get("/authorize", params=by_reference(client, request_uri))

    threads = [threading.Thread(target=open_at, args=(url,)) for url in (a_url, b_url)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(response.status_code for response in answers.values())
    assert statuses == [200, 400], {u: r.text[:200] for u, r in answers.items()}
