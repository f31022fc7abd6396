"""Logging out: OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

The relying parties are Authlib clients; the back channel is a small Starlette app of our
own under uvicorn, which records every logout token it is sent.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary import clock
from ostiary.domain.sessions import LogoutFailure
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.tokens import signed
from tests.conftest import LiveServer, free_port
from tests.e2e.helpers import RegisteredClient, make_client
from tests.e2e.oidc_helpers import (
    CALLBACK,
    Provider,
    RelyingParty,
    Tokens,
    browser,
    forms_of,
    http_get,
    http_post,
    make_oidc_client,
    make_oidc_user,
    validate_logout_token,
    visit,
    wait_until,
)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
BYE = "https://app.example.com/bye?from=op"
SESSION_COOKIE = "ost_session"


@pytest.fixture
def provider(server: LiveServer) -> Provider:
    return Provider.discover(server.base_url)


def sign_in(
    provider: Provider, web: httpx.Client, client: RegisteredClient, user: User, scope: str
) -> Tokens:
    """Authorize (signing in if asked), redeem and check the ID token."""
    with RelyingParty(provider, client, scope) as rp:
        request = rp.authorization()
        journey = visit(web, request.url, user.username)
        tokens = rp.redeem(request, journey.location)
        assert tokens.id_token is not None
        rp.validate_id_token(tokens.id_token, nonce=request.nonce, access_token=tokens.access_token)
    return tokens


def id_claims(provider: Provider, client: RegisteredClient, tokens: Tokens) -> dict[str, Any]:
    assert tokens.id_token is not None
    with RelyingParty(provider, client, "openid") as rp:
        return dict(rp.validate_id_token(tokens.id_token, nonce=None, access_token=None))


def silently(provider: Provider, web: httpx.Client, client: RegisteredClient) -> dict[str, str]:
    """prompt=none: the query the client gets back (a code if the session lives)."""
    with RelyingParty(provider, client, "openid") as rp:
        journey = visit(web, rp.authorization(prompt="none").url)
    assert journey.pages == []
    return journey.query


def introspect(provider: Provider, resource: RegisteredClient, token: str) -> dict[str, Any]:
    response = http_post(
        provider.endpoint("introspection_endpoint"),
        data={"token": token},
        auth=resource.basic_auth(),
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh_status(provider: Provider, client: RegisteredClient, refresh: str) -> httpx.Response:
    return http_post(
        provider.endpoint("token_endpoint"),
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=client.basic_auth(),
    )


def assert_error_page(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert 'class="error"' in response.text
    # The session cookie is left alone.
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


# -- RP-Initiated Logout 1.0 -----------------------------------------------------------


def test_rp_initiated_logout_2_id_token_hint_ends_session_and_redirects(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(
        server, first_party=True, session_refresh_tokens=True, post_logout_redirect_uris=[BYE]
    )
    resource = make_client(
        server, redirect_uris=[], grant_types=["client_credentials"], scopes=["read"]
    )
    user = make_oidc_user(server)
    with browser(server) as web:
        session_bound = sign_in(provider, web, client, user, "openid")
        offline = sign_in(provider, web, client, user, "openid offline_access")
        assert session_bound.refresh_token and offline.refresh_token
        with RelyingParty(provider, client, "openid") as rp:
            rotated = rp.refresh(session_bound.refresh_token)
        assert rotated.refresh_token
        assert introspect(provider, resource, session_bound.access_token)["active"] is True
        cookie = web.cookies[SESSION_COOKIE]

        state = secrets.token_urlsafe(12)
        response = web.get(
            provider.endpoint("end_session_endpoint"),
            params={
                "id_token_hint": session_bound.id_token or "",
                "post_logout_redirect_uri": BYE,
                "state": state,
            },
        )
        # §3: back to the registered URI (its query kept), with state.
        assert response.status_code == 303, response.text
        assert response.headers["location"] == BYE + "&" + urlencode({"state": state})
        assert SESSION_COOKIE in response.headers["set-cookie"]

    # The session is gone at the OP, not only the cookie in this browser.
    with browser(server) as web:
        web.cookies.set(SESSION_COOKIE, cookie)
        assert silently(provider, web, client)["error"] == "login_required"

    # OIDC Core §11: the session's refresh token died with it; the offline one lives.
    dead = refresh_status(provider, client, rotated.refresh_token)
    assert dead.status_code == 400
    assert dead.json()["error"] == "invalid_grant"
    with RelyingParty(provider, client, "openid offline_access") as rp:
        renewed = rp.refresh(offline.refresh_token)
    assert renewed.id_token is not None
    assert id_claims(provider, client, renewed)["sub"] == user.id
    assert introspect(provider, resource, renewed.access_token)["active"] is True

    # The access tokens issued in the session are denied.
    assert introspect(provider, resource, session_bound.access_token) == {"active": False}
    assert introspect(provider, resource, rotated.access_token) == {"active": False}
    assert introspect(provider, resource, offline.access_token) == {"active": False}
    denied = http_get(
        provider.endpoint("userinfo_endpoint"),
        headers={"Authorization": f"Bearer {session_bound.access_token}"},
    )
    assert denied.status_code == 401


def test_rp_initiated_logout_2_code_issued_before_logout_is_dead_after_it(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True, session_refresh_tokens=True)
    user = make_oidc_user(server)
    with browser(server) as web, RelyingParty(provider, client, "openid") as rp:
        request = rp.authorization()
        journey = visit(web, request.url, user.username)
        # The user signs out before the application redeemed its code.
        asked = web.get(provider.endpoint("end_session_endpoint"))
        (form,) = forms_of(asked.text)
        assert web.post(form.action, data=form.inputs).status_code == 200
        assert silently(provider, web, client)["error"] == "login_required"
        response = http_post(
            provider.endpoint("token_endpoint"),
            data={
                "grant_type": "authorization_code",
                "code": journey.query["code"],
                "redirect_uri": CALLBACK,
                "code_verifier": request.verifier,
            },
            auth=client.basic_auth(),
        )
    # No tokens for a session that has ended.
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_rp_initiated_logout_2_expired_id_token_hint_is_still_accepted(
    server: LiveServer, provider: Provider
) -> None:
    """§2: the OP SHOULD accept its ID tokens as hints even when exp has passed.

    Sent with POST (form serialization), which §2 requires the OP to support too.
    """
    client = make_oidc_client(server, first_party=True, post_logout_redirect_uris=[BYE])
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens = sign_in(provider, web, client, user, "openid")
        claims = id_claims(provider, client, tokens)
        now = clock.now()
        expired_claims = {**claims, "iat": now - 7200, "exp": now - 3600}

        async def reissue(services: Services) -> str:
            keys = await services.keys.fresh()
            return signed.sign(keys, "RS256", expired_claims, "JWT")

        expired = server.call(reissue)
        response = web.post(
            provider.endpoint("end_session_endpoint"),
            data={"id_token_hint": expired, "post_logout_redirect_uri": BYE, "state": "s 1"},
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == BYE + "&state=s+1"
        assert silently(provider, web, client)["error"] == "login_required"


def test_rp_initiated_logout_2_without_hint_asks_for_confirmation(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True, post_logout_redirect_uris=[BYE])
    user = make_oidc_user(server)
    with browser(server) as web:
        sign_in(provider, web, client, user, "openid")
        state = secrets.token_urlsafe(12)
        asked = web.get(
            provider.endpoint("end_session_endpoint"),
            params={"client_id": client.client_id, "post_logout_redirect_uri": BYE, "state": state},
        )
        assert asked.status_code == 200, asked.text
        assert "location" not in asked.headers
        (form,) = forms_of(asked.text)
        assert form.method == "post"
        assert form.inputs["csrf"]
        assert form.inputs["post_logout_redirect_uri"] == BYE
        assert form.inputs["state"] == state
        # Asking signs no one out.
        assert "code" in silently(provider, web, client)

        # A form without the right CSRF token is only asked again.
        forged = web.post(form.action, data={**form.inputs, "csrf": "0" * 64})
        assert forged.status_code == 200
        assert forms_of(forged.text)[0].inputs["csrf"]
        assert "code" in silently(provider, web, client)

        done = web.post(form.action, data=form.inputs)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == BYE + "&" + urlencode({"state": state})
        assert silently(provider, web, client)["error"] == "login_required"


def test_rp_initiated_logout_3_unregistered_post_logout_redirect_uri_is_refused(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True, post_logout_redirect_uris=[BYE])
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens = sign_in(provider, web, client, user, "openid")
        for target in ("https://evil.example/bye", BYE + "&x=1", "https://app.example.com/bye"):
            response = web.get(
                provider.endpoint("end_session_endpoint"),
                params={
                    "id_token_hint": tokens.id_token or "",
                    "post_logout_redirect_uri": target,
                    "state": "s",
                },
            )
            assert_error_page(response)
        # The session survives a refused request.
        assert "code" in silently(provider, web, client)


def test_rp_initiated_logout_2_client_id_must_be_the_hint_audience(
    server: LiveServer, provider: Provider
) -> None:
    client = make_oidc_client(server, first_party=True, post_logout_redirect_uris=[BYE])
    other_bye = "https://other.example.com/bye"
    other = make_oidc_client(
        server,
        first_party=True,
        redirect_uris=["https://other.example.com/cb"],
        post_logout_redirect_uris=[other_bye],
    )
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens = sign_in(provider, web, client, user, "openid")
        endpoint = provider.endpoint("end_session_endpoint")
        mismatch = web.get(
            endpoint,
            params={
                "id_token_hint": tokens.id_token or "",
                "client_id": other.client_id,
                "post_logout_redirect_uri": other_bye,
            },
        )
        assert_error_page(mismatch)
        # Nor may the hint's client borrow another client's post-logout URI.
        borrowed = web.get(
            endpoint,
            params={"id_token_hint": tokens.id_token or "", "post_logout_redirect_uri": other_bye},
        )
        assert_error_page(borrowed)
        assert "code" in silently(provider, web, client)


# -- Back-Channel Logout 1.0 ---------------------------------------------------------------


@dataclass
class Delivery:
    method: str
    content_type: str
    form: dict[str, list[str]]

    @property
    def logout_token(self) -> str:
        (token,) = self.form["logout_token"]
        return token


@dataclass
class BackChannel:
    """An RP's back-channel logout endpoint: /bc/<name>; names starting 'fail' answer 500."""

    base_url: str
    received: dict[str, list[Delivery]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def uri(self, name: str) -> str:
        return f"{self.base_url}/bc/{name}"

    def deliveries(self, name: str) -> list[Delivery]:
        with self.lock:
            return list(self.received.get(name, []))

    async def endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = (await request.body()).decode()
        delivery = Delivery(request.method, request.headers.get("content-type", ""), parse_qs(body))
        with self.lock:
            self.received.setdefault(name, []).append(delivery)
        # §2.8: 200 when the logout succeeded; anything else is a failure.
        return Response(status_code=500 if name.startswith("fail") else 200)


@pytest.fixture(scope="module")
def back_channel() -> Iterator[BackChannel]:
    port = free_port()
    receiver = BackChannel(f"http://127.0.0.1:{port}")
    app = Starlette(routes=[Route("/bc/{name}", receiver.endpoint, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    rp_server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(rp_server.serve())

    thread = threading.Thread(target=run, name=f"rp-backchannel-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not rp_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "RP server did not start"
        time.sleep(0.02)
    yield receiver
    rp_server.should_exit = True
    thread.join(timeout=30)
    loop.close()


def failures(server: LiveServer, client_id: str) -> list[LogoutFailure]:
    async def read(services: Services) -> list[LogoutFailure]:
        return await services.store.logout_failures.for_client(client_id)

    return server.call(read)


def logout_with_hint(provider: Provider, web: httpx.Client, tokens: Tokens) -> None:
    response = web.get(
        provider.endpoint("end_session_endpoint"), params={"id_token_hint": tokens.id_token or ""}
    )
    assert response.status_code == 200, response.text
    assert "signed out" in response.text


def test_backchannel_logout_2_5_logout_token_delivered(
    server: LiveServer, provider: Provider, back_channel: BackChannel
) -> None:
    names = {alg: f"{alg}-{secrets.token_hex(4)}" for alg in ("RS256", "ES256")}
    clients = {
        alg: make_oidc_client(
            server,
            first_party=True,
            id_token_signed_response_alg=alg,
            backchannel_logout_uri=back_channel.uri(names[alg]),
            backchannel_logout_session_required=alg == "ES256",
        )
        for alg in names
    }
    unused_name = f"unused-{secrets.token_hex(4)}"
    unused = make_oidc_client(
        server, first_party=True, backchannel_logout_uri=back_channel.uri(unused_name)
    )
    without_uri = make_oidc_client(server, first_party=True)
    user = make_oidc_user(server)
    with browser(server) as web:
        issued = {
            alg: sign_in(provider, web, client, user, "openid") for alg, client in clients.items()
        }
        sign_in(provider, web, without_uri, user, "openid")
        sid = id_claims(provider, clients["RS256"], issued["RS256"])["sid"]
        logout_with_hint(provider, web, issued["RS256"])

    wait_until(
        lambda: all(back_channel.deliveries(name) for name in names.values()),
        what="a logout token at each client",
    )
    jtis = set()
    for alg, client in clients.items():
        (delivery,) = back_channel.deliveries(names[alg])
        assert delivery.method == "POST"
        assert delivery.content_type.startswith("application/x-www-form-urlencoded")
        claims = validate_logout_token(provider, delivery.logout_token, client.client_id)
        # §2.4: explicitly typed, signed like the client's ID tokens.
        assert claims.header["typ"] == "logout+jwt"
        assert claims.header["alg"] == alg
        id_token = id_claims(provider, client, issued[alg])
        assert claims["aud"] == client.client_id
        assert claims["sub"] == id_token["sub"] == user.id
        assert claims["sid"] == id_token["sid"] == sid
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert claims["exp"] > claims["iat"]
        assert "nonce" not in claims  # §2.4: prohibited
        jtis.add(claims["jti"])
        assert failures(server, client.client_id) == []
    assert len(jtis) == 2
    # Only the clients of this session are told.
    assert back_channel.deliveries(unused_name) == []
    assert failures(server, unused.client_id) == []
    assert failures(server, without_uri.client_id) == []


def test_backchannel_logout_2_8_failed_delivery_is_retried_and_recorded(
    server: LiveServer, provider: Provider, back_channel: BackChannel
) -> None:
    name = f"fail-{secrets.token_hex(4)}"
    client = make_oidc_client(
        server, first_party=True, backchannel_logout_uri=back_channel.uri(name)
    )
    user = make_oidc_user(server)
    with browser(server) as web:
        tokens = sign_in(provider, web, client, user, "openid")
        logout_with_hint(provider, web, tokens)
    sid = id_claims(provider, client, tokens)["sid"]

    wait_until(lambda: bool(failures(server, client.client_id)), 20, "a recorded failure")
    attempts = server.settings.oidc.backchannel_logout_attempts
    assert attempts > 1
    deliveries = back_channel.deliveries(name)
    assert len(deliveries) == attempts
    for delivery in deliveries:
        claims = validate_logout_token(provider, delivery.logout_token, client.client_id)
        assert claims["sid"] == sid
    (failure,) = failures(server, client.client_id)
    assert failure.error == "HTTP 500"
    assert failure.attempts == attempts
    assert failure.sid == sid
    assert failure.sub == user.id


def test_backchannel_logout_2_reauthentication_does_not_orphan_earlier_clients(
    server: LiveServer, provider: Provider, back_channel: BackChannel
) -> None:
    first_name, second_name = (f"{n}-{secrets.token_hex(4)}" for n in ("first", "second"))
    first = make_oidc_client(
        server, first_party=True, backchannel_logout_uri=back_channel.uri(first_name)
    )
    second = make_oidc_client(
        server, first_party=True, backchannel_logout_uri=back_channel.uri(second_name)
    )
    user = make_oidc_user(server)
    with browser(server) as web:
        sign_in(provider, web, first, user, "openid")
        with RelyingParty(provider, second, "openid") as rp:
            # The second application wants a fresh authentication (step-up).
            request = rp.authorization(prompt="login")
            journey = visit(web, request.url, user.username)
            assert journey.pages == ["login"]
            tokens = rp.redeem(request, journey.location)
        logout_with_hint(provider, web, tokens)

    wait_until(lambda: bool(back_channel.deliveries(second_name)), what="the second client")
    # Deliveries are sent together: the first client's is due at the same moment.
    deadline = time.monotonic() + 0.5
    while not back_channel.deliveries(first_name) and time.monotonic() < deadline:
        time.sleep(0.02)
    (delivery,) = back_channel.deliveries(first_name)
    claims = validate_logout_token(provider, delivery.logout_token, first.client_id)
    assert claims["sub"] == user.id
