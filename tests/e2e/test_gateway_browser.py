"""`ostiary gateway --mode browser`: login through Ostiary's real pages with a cookie jar,
an encrypted session cookie, refresh, RP-initiated and back-channel logout."""

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ostiary.domain.users import User
from ostiary.gateway import Gateway, load_config
from ostiary.gateway.session_cookie import MAX_COOKIE_BYTES
from tests.conftest import LiveServer, free_port
from tests.e2e.helpers import RegisteredClient
from tests.e2e.oidc_helpers import forms_of, make_oidc_client, make_oidc_user, visit
from tests.e2e.upstream_app import serving, upstream_app, wait_until

BYE = "https://app.example.com/bye"
RULES = [
    "GET /app/* authenticated",
    "GET /profile/* scope=profile",
    "GET /billing/* scope=billing",
    "POST /app/* authenticated",
    "GET /health public",
]


@dataclass
class BrowserGateway:
    url: str
    gateway: Gateway
    client: RegisteredClient


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(upstream_app()) as url:
        yield url


def start(server: LiveServer, upstream: str, **overrides: Any) -> Iterator[BrowserGateway]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = make_oidc_client(
        server,
        first_party=True,
        session_refresh_tokens=True,
        redirect_uris=[f"{base}/.ostiary/callback"],
        backchannel_logout_uri=f"{base}/.ostiary/backchannel-logout",
        post_logout_redirect_uris=[BYE],
        access_token_ttl=60,
    )
    values: dict[str, Any] = {
        "issuer": server.base_url,
        "upstream": upstream,
        "rules": RULES,
        "mode": "browser",
        "port": port,
        "client_id": client.client_id,
        "client_secret": client.secret,
        "cookie_secret": secrets.token_urlsafe(32),
        "post_logout_redirect_uri": BYE,
        "feed_interval": 0.5,
    }
    values.update(overrides)
    gateway = Gateway(load_config(values))
    with serving(gateway, port) as url:
        yield BrowserGateway(url, gateway, client)


@pytest.fixture
def browser_gateway(server: LiveServer, upstream: str) -> Iterator[BrowserGateway]:
    yield from start(server, upstream)


def log_in(
    web: httpx.Client, gw: BrowserGateway, user: User, path: str = "/app/page"
) -> httpx.Response:
    """Open a protected page, sign in at Ostiary's real login page, land back."""
    first = web.get(f"{gw.url}{path}")
    assert first.status_code == 302, first.text
    authorize = first.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    flow_cookie = first.headers["set-cookie"]
    assert "HttpOnly" in flow_cookie and "SameSite=Lax" in flow_cookie
    journey = visit(web, authorize, user.username)
    callback = journey.location
    assert callback.startswith(f"{gw.url}/.ostiary/callback?")
    landed = web.get(callback)
    assert landed.status_code == 302, landed.text
    return landed


def test_oidc_core_3_1_login_through_the_real_login_page(
    browser_gateway: BrowserGateway, server: LiveServer
) -> None:
    gw = browser_gateway
    user = make_oidc_user(server)
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
        landed = log_in(web, gw, user, "/app/caf%C3%A9?tab=2")
        assert landed.headers["location"] == "/app/caf%C3%A9?tab=2"
        cookie = next(v for k, v in landed.headers.multi_items() if "ostiary_gw_session" in v)
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        # RFC 6265 §6.1: browsers need keep no more than 4096 bytes of a cookie.
        assert len(web.cookies["ostiary_gw_session"]) < MAX_COOKIE_BYTES
        page = web.get(f"{gw.url}/app/page?tab=2", headers={"X-Forwarded-User": "mallory"})
        assert page.status_code == 200, page.text
        seen = {name: value for name, value in page.json()["headers"]}
        assert seen["x-forwarded-user"] == user.id
        assert seen["x-forwarded-email"] == user.email
        # The upstream never sees the gateway's cookies.
        assert "ostiary_gw" not in seen.get("cookie", "")
        # scope= rules apply to the session's access token.
        assert web.get(f"{gw.url}/profile/me").status_code == 200
        denied = web.get(f"{gw.url}/billing/invoices")
        assert denied.status_code == 403
        assert denied.json()["error"] == "insufficient_scope"
        assert web.get(f"{gw.url}/nowhere").status_code == 404


def test_unauthenticated_non_navigation_is_401_and_bad_callback_is_400(
    browser_gateway: BrowserGateway,
) -> None:
    gw = browser_gateway
    assert httpx.post(f"{gw.url}/app/page").status_code == 401
    assert httpx.get(f"{gw.url}/health").status_code == 200
    # RFC 6749 §10.12: a callback without the login's cookie, or with another state, fails.
    no_flow = httpx.get(f"{gw.url}/.ostiary/callback", params={"code": "x", "state": "y"})
    assert no_flow.status_code == 400
    with httpx.Client(follow_redirects=False) as web:
        web.get(f"{gw.url}/app/page")
        wrong = web.get(f"{gw.url}/.ostiary/callback", params={"code": "x", "state": "forged"})
    assert wrong.status_code == 400
    assert wrong.json()["error_description"] == "state does not match"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
)
def test_no_open_redirect_after_login(
    browser_gateway: BrowserGateway, server: LiveServer, target: str
) -> None:
    gw = browser_gateway
    user = make_oidc_user(server)
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
        start_login = web.get(f"{gw.url}/.ostiary/login", params={"next": target})
        journey = visit(web, start_login.headers["location"], user.username)
        landed = web.get(journey.location)
    assert landed.headers["location"] == "/"


def test_access_token_is_refreshed_transparently(server: LiveServer, upstream: str) -> None:
    for gw in start(server, upstream, refresh_before=59):
        user = make_oidc_user(server)
        with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
            log_in(web, gw, user)
            before = web.cookies["ostiary_gw_session"]
            time.sleep(1.5)
            page = web.get(f"{gw.url}/app/page")
            assert page.status_code == 200
            assert "ostiary_gw_session=" in page.headers["set-cookie"]
            assert web.cookies["ostiary_gw_session"] != before
            assert web.get(f"{gw.url}/app/page").status_code == 200


def test_rp_initiated_logout(browser_gateway: BrowserGateway, server: LiveServer) -> None:
    gw = browser_gateway
    user = make_oidc_user(server)
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
        log_in(web, gw, user)
        out = web.get(f"{gw.url}/.ostiary/logout")
        assert out.status_code == 302
        location = out.headers["location"]
        assert location.startswith(server.base_url)
        query = parse_qs(urlsplit(location).query)
        assert query["client_id"] == [gw.client.client_id]
        assert query["post_logout_redirect_uri"] == [BYE] and query["id_token_hint"]
        assert "Max-Age=0" in out.headers["set-cookie"]
        at_op = web.get(location)
        assert at_op.status_code == 303 and at_op.headers["location"].startswith(BYE)
        again = web.get(f"{gw.url}/app/page")
        assert again.status_code == 302
        assert again.headers["location"].startswith(server.base_url)


def test_backchannel_logout_2_6_kills_the_gateway_session(
    server: LiveServer, upstream: str
) -> None:
    # Without the feed, only the back channel can end the session at the gateway.
    for gw in start(server, upstream, revocation_feed=False):
        user = make_oidc_user(server)
        with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
            log_in(web, gw, user)
            assert web.get(f"{gw.url}/app/page").status_code == 200
            # The user signs out at Ostiary directly; the gateway's cookie stays in the jar.
            asked = web.get(f"{server.base_url}/logout")
            if asked.status_code == 200:
                (form,) = forms_of(asked.text)
                action = (
                    form.action if form.action.startswith("http") else server.base_url + form.action
                )
                assert web.post(action, data=form.inputs).status_code in (200, 303)
            assert web.cookies.get("ostiary_gw_session")
            page = f"{gw.url}/app/page"
            wait_until(lambda url=page: web.get(url).status_code == 302, timeout=10)
        browser = gw.gateway.browser
        assert browser is not None and browser.ended.ended_count() == 1


def test_backchannel_logout_token_is_validated(browser_gateway: BrowserGateway) -> None:
    gw = browser_gateway
    endpoint = f"{gw.url}/.ostiary/backchannel-logout"
    for data in ({}, {"logout_token": "not.a.jwt"}, {"logout_token": "a.b.c"}):
        response = httpx.post(endpoint, data=data)
        assert response.status_code == 400, data
        assert response.json()["error"] == "invalid_request"
    assert httpx.post(endpoint, json={"logout_token": "x"}).status_code == 400
