"""Gateway browser mode with the issuer on the gateway's host (both on 127.0.0.1, other
ports: cookies ignore the port, RFC 6265 §8.5): after a real login the browser sends
Ostiary's SSO session and browser-id cookies to the gateway too, and the upstream app never
receives them (nor the gateway's own); the app's cookies reach it byte for byte."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer
from tests.e2e import test_gateway_browser as gateway_fixtures
from tests.e2e.oidc_helpers import make_oidc_user

upstream = gateway_fixtures.upstream
browser_gateway = gateway_fixtures.browser_gateway
BrowserGateway = gateway_fixtures.BrowserGateway

APP_COOKIES = 'theme=dark; cart="a1b2"; pref=x=y'


def test_upstream_never_receives_the_identity_servers_cookies(
    browser_gateway: BrowserGateway, server: LiveServer
) -> None:
    gw = browser_gateway
    user = make_oidc_user(server)
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as web:
        gateway_fixtures.log_in(web, gw, user)
        # One jar for both ports: what a browser holds for the host 127.0.0.1.
        held = {cookie.name for cookie in web.cookies.jar}
        assert {"ost_session", "ost_browser", "ostiary_gw_session"} <= held
        jar = "; ".join(f"{c.name}={c.value}" for c in web.cookies.jar)
        # The browser's Cookie header as sent: Ostiary's and the gateway's cookies between
        # the app's own, in one field.
        page = httpx.get(
            f"{gw.url}/app/page", headers={"Cookie": f"{jar}; {APP_COOKIES}"}, timeout=30
        )
        assert page.status_code == 200, page.text
        seen = [value for name, value in page.json()["headers"] if name == "cookie"]
        assert seen == [APP_COOKIES]
        # Without cookies of the app, the upstream gets no Cookie field at all.
        bare = httpx.get(f"{gw.url}/app/page", headers={"Cookie": jar}, timeout=30)
        assert bare.status_code == 200, bare.text
        assert [name for name, _ in bare.json()["headers"] if name == "cookie"] == []
