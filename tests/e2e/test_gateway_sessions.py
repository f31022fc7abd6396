"""Browser-mode sessions across operations: rotating the cookie secret without logging
anyone out, and logins started in several tabs of one browser at once."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ostiary.gateway import Gateway, load_config
from ostiary.gateway.browser_mode import MAX_PENDING_LOGINS
from ostiary.gateway.session_cookie import CookieError, CookieSealer
from tests.conftest import LiveServer, free_port
from tests.e2e.oidc_helpers import make_oidc_client, make_oidc_user, visit
from tests.e2e.test_gateway_browser import RULES, BrowserGateway, log_in, start
from tests.e2e.upstream_app import serving, upstream_app

SESSION = "ostiary_gw_session"
FLOW = "ostiary_gw_flow_"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(upstream_app()) as url:
        yield url


def gateway_values(server: LiveServer, upstream: str) -> dict[str, Any]:
    """One gateway's settings; it is started, stopped and restarted on the same port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = make_oidc_client(
        server,
        first_party=True,
        session_refresh_tokens=True,
        redirect_uris=[f"{base}/.ostiary/callback"],
        access_token_ttl=300,
    )
    return {
        "issuer": server.base_url,
        "upstream": upstream,
        "rules": RULES,
        "mode": "browser",
        "port": port,
        "client_id": client.client_id,
        "client_secret": client.secret,
        "feed_interval": 0.5,
    }


@contextmanager
def running(values: dict[str, Any], cookie_secrets: list[str]) -> Iterator[BrowserGateway]:
    gateway = Gateway(load_config({**values, "cookie_secret": cookie_secrets}))
    with serving(gateway, values["port"]) as url:
        yield BrowserGateway(url, gateway, None)  # type: ignore[arg-type]


def set_session(web: httpx.Client, value: str) -> None:
    web.cookies.delete(SESSION)
    web.cookies.set(SESSION, value, domain="127.0.0.1", path="/")


def test_cookie_secret_rotation_keeps_sessions_and_reseals(
    server: LiveServer, upstream: str
) -> None:
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    values = gateway_values(server, upstream)
    user = make_oidc_user(server)
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
        with running(values, [old]) as gw:
            log_in(web, gw, user)
        sealed_old = web.cookies[SESSION]
        # Step 1 of the rotation: the new secret first, the old one still listed.
        with running(values, [new, old]) as gw:
            page = web.get(f"{gw.url}/app/page")
            assert page.status_code == 200, page.text
            resealed = web.cookies[SESSION]
            assert resealed != sealed_old
            assert f"{SESSION}=" in page.headers["set-cookie"]
            assert "HttpOnly" in page.headers["set-cookie"]
            # Sealed under the new secret alone; the old secret no longer opens it.
            assert CookieSealer(new).open(SESSION, resealed)["sub"] == user.id
            with pytest.raises(CookieError):
                CookieSealer(old).open(SESSION, resealed)
            # Once re-sealed, responses carry no new cookie.
            again = web.get(f"{gw.url}/app/page")
            assert again.status_code == 200 and "set-cookie" not in again.headers
        # Step 2: the old secret is removed; a cookie still sealed under it is no session.
        with running(values, [new]) as gw:
            assert web.get(f"{gw.url}/app/page").status_code == 200
            set_session(web, sealed_old)
            refused = web.get(f"{gw.url}/app/page")
            assert refused.status_code == 302
            assert refused.headers["location"].startswith(server.base_url)
            assert httpx.post(f"{gw.url}/app/page", cookies={SESSION: sealed_old}).status_code == (
                401
            )


def flow_cookies(web: httpx.Client) -> list[str]:
    return [cookie.name for cookie in web.cookies.jar if cookie.name.startswith(FLOW)]


def test_rfc6749_10_12_two_tabs_logging_in_at_once_both_succeed(
    server: LiveServer, upstream: str
) -> None:
    for gw in start(server, upstream):
        user = make_oidc_user(server)
        with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
            first = web.get(f"{gw.url}/app/one")
            second = web.get(f"{gw.url}/app/two?tab=2")
            assert first.status_code == second.status_code == 302
            states = [
                parse_qs(urlsplit(r.headers["location"]).query)["state"][0] for r in (first, second)
            ]
            assert states[0] != states[1] and len(flow_cookies(web)) == 2
            # Tab one signs in at the provider; tab two then passes on the provider's session.
            callback_one = visit(web, first.headers["location"], user.username).location
            callback_two = visit(web, second.headers["location"]).location
            # The second tab's callback lands first, and does not spoil the first tab's.
            landed_two = web.get(callback_two)
            assert landed_two.status_code == 302, landed_two.text
            assert landed_two.headers["location"] == "/app/two?tab=2"
            landed_one = web.get(callback_one)
            assert landed_one.status_code == 302, landed_one.text
            assert landed_one.headers["location"] == "/app/one"
            assert flow_cookies(web) == []
            assert web.get(f"{gw.url}/app/one").status_code == 200
            # RFC 6749 §10.12: each state is good once.
            replay = web.get(callback_one)
            assert replay.status_code == 400
            assert replay.json()["error_description"] == "no login in progress"


def test_pending_logins_per_browser_are_bounded(server: LiveServer, upstream: str) -> None:
    for gw in start(server, upstream):
        user = make_oidc_user(server)
        with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
            starts = [web.get(f"{gw.url}/app/{n}") for n in range(MAX_PENDING_LOGINS + 3)]
            assert len(flow_cookies(web)) == MAX_PENDING_LOGINS
            # The newest login completes; the oldest was dropped and its callback fails.
            newest = visit(web, starts[-1].headers["location"], user.username).location
            assert web.get(newest).headers["location"] == f"/app/{MAX_PENDING_LOGINS + 2}"
            oldest = visit(web, starts[0].headers["location"]).location
            dropped = web.get(oldest)
            assert dropped.status_code == 400
            assert dropped.json()["error_description"] == "state does not match"
        # The upstream never sees the gateway's login cookies.
        with httpx.Client(follow_redirects=False) as other:
            other.get(f"{gw.url}/app/x")
            other.cookies.set("theirs", "1", domain="127.0.0.1")
            assert len(flow_cookies(other)) == 1
            seen = other.get(f"{gw.url}/health").json()["headers"]
            cookie = next(value for name, value in seen if name == "cookie")
            assert cookie == "theirs=1"
