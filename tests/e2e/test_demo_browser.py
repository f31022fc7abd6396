"""The demo application in a real browser: Debian's Chromium driven by Playwright.

docs/demo.md: /demo is a public client running the authorization-code flow with PKCE
(RFC 6749 §4.1, RFC 7636 S256), showing the decoded access token (RFC 9068), refreshing
with rotation (RFC 6749 §6) and revoking the refresh token (RFC 7009).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ostiary.web.demo import DEMO_SCOPES
from tests.conftest import free_port
from tests.e2e.chromium import launch_chromium, require_chromium
from tests.e2e.processes import Servers, clean_env

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/ostiary-demo.png")
TIMEOUT_MS = 15_000
SHOWS_NEW_REFRESH_TOKEN = """(previous) => {
  try {
    const shown = JSON.parse(document.getElementById("response").textContent);
    return typeof shown.refresh_token === "string" && shown.refresh_token !== previous;
  } catch {
    return false;
  }
}"""


def shown_json(page: Page, element_id: str) -> dict[str, object]:
    return json.loads(page.locator(f"#{element_id}").inner_text())


def test_demo_page_signs_in_refreshes_and_revokes_in_chromium(
    servers: Servers, tmp_path: Path
) -> None:
    require_chromium()
    server = servers.start("--demo", port=free_port(), env=clean_env(), cwd=tmp_path)
    credentials = server.demo_credentials()

    with launch_chromium() as chromium:  # closing the browser closes its pages
        page = chromium.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(credentials.url)
        page.get_by_role("button", name="Sign in with Ostiary").click()

        # Login page of the authorization server (RFC 6749 §4.1.1 → user authentication),
        # the answer of the authorization endpoint itself.
        page.wait_for_url(re.compile(r"/authorize\?"))
        page.locator("input[name=username]").fill(credentials.username)
        page.locator("input[name=password]").fill(credentials.password)
        page.get_by_role("button", name="Sign in", exact=True).click()

        # Consent page, then the redirect back to /demo with the code.
        expect(page.get_by_role("heading", name="Allow access?")).to_be_visible()
        expect(page.locator("ul.scopes")).to_contain_text("demo:read")
        page.get_by_role("button", name="Allow").click()

        page.wait_for_url(credentials.url)
        expect(page.locator("#result")).to_be_visible()
        expect(page.locator("#error")).to_be_hidden()
        header = shown_json(page, "at-header")
        claims = shown_json(page, "at-claims")
        assert header["typ"] == "at+jwt"
        assert claims["client_id"] == credentials.client_id
        assert claims["iss"] == server.base_url
        assert set(str(claims["scope"]).split()) == set(DEMO_SCOPES)
        first = shown_json(page, "response")
        assert str(first["refresh_token"]).startswith("ost_rt_")
        # OpenID Connect: the page checked the nonce and shows the ID token's claims.
        id_claims = shown_json(page, "id-claims")
        assert id_claims["aud"] == credentials.client_id
        assert id_claims["name"] == "Demo User"
        assert id_claims["nonce"]

        # Refresh: a new token response with a rotated refresh token (RFC 6749 §6).
        page.get_by_role("button", name="Refresh tokens").click()
        page.wait_for_function(SHOWS_NEW_REFRESH_TOKEN, arg=first["refresh_token"])
        second = shown_json(page, "response")
        assert second["access_token"] != first["access_token"]

        # UserInfo (OIDC Core §5.3) with the refreshed access token.
        page.get_by_role("button", name="Call UserInfo").click()
        expect(page.locator("#userinfo-response")).to_contain_text("demo@example.com")
        assert shown_json(page, "userinfo-response")["sub"] == id_claims["sub"]

        # Revoke the refresh token (RFC 7009), then refreshing must fail visibly.
        page.get_by_role("button", name="Revoke refresh token").click()
        expect(page.locator("#response")).to_contain_text("Refresh token revoked")
        page.get_by_role("button", name="Refresh tokens").click()
        expect(page.locator("#error")).to_be_visible()
        expect(page.locator("#error")).to_contain_text("invalid_grant")
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # RP-initiated logout with id_token_hint comes straight back; the session is gone.
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(credentials.url)
        page.get_by_role("button", name="Sign in with Ostiary").click()
        page.wait_for_url(re.compile(r"/authorize\?"))
        expect(page.locator("input[name=password]")).to_be_visible()
    server.stop_cleanly()
