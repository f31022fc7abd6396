"""The console's clients, keys and providers pages in Chromium: an admin registers a client,
copies the secret shown once, and the client completes an authorization-code flow with
it (RFC 6749 §4.1, PKCE per RFC 7636); an identity provider is added from a preset and
the keys page is read. Each page passes axe-core (no serious or critical WCAG 2.1 AA
finding) and does not scroll sideways at 390 or 1280 px."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, unique
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.console_helpers import assert_page_is_usable, browser_sign_in, make_console_user
from tests.e2e.helpers import pkce_pair

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/ostiary-console-clients-browser.png")


@pytest.fixture
def page(server: LiveServer) -> Iterator[Page]:
    require_chromium()
    with launch_chromium() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        # The console's destructive and rotating forms ask first (data-confirm).
        page.on("dialog", lambda dialog: dialog.accept())
        with screenshot_on_failure(page, SCREENSHOT):
            yield page
        context.close()


def test_a_client_registered_in_the_console_completes_a_code_flow(
    server: LiveServer, page: Page
) -> None:
    admin = make_console_user(server, "admin")
    browser_sign_in(page, server, admin, "/admin/clients")
    expect(page.get_by_role("heading", name="Clients", level=1)).to_be_visible()
    assert_page_is_usable(page)

    page.get_by_role("link", name="Register a new client").click()
    expect(page.get_by_role("heading", name="New client", level=1)).to_be_visible()
    assert_page_is_usable(page)
    client_id = unique("shop")
    callback = f"{server.base_url}/shop-callback"
    page.get_by_role("textbox", name="Name", exact=True).fill("Web shop")
    page.get_by_label("Client ID").fill(client_id)
    # A first try with a URI the rules refuse: the error names its line, input is kept.
    page.get_by_label("Redirect URIs", exact=True).fill(f"{callback}\nhttp://shop.example/cb")
    page.get_by_label("authorization_code").check()
    page.get_by_label("refresh_token").check()
    page.get_by_label("Scopes").fill("openid profile")
    page.get_by_role("button", name="Register client").click()
    uris = page.get_by_label("Redirect URIs", exact=True)
    expect(uris).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-redirect_uris")).to_contain_text("Line 2:")
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Web shop")
    assert_page_is_usable(page)
    uris.fill(callback)
    page.get_by_role("button", name="Register client").click()

    page.wait_for_url(f"{server.base_url}/admin/clients/{client_id}")
    expect(page.get_by_role("heading", name="Client secret")).to_be_visible()
    secret = page.locator("#copy-client-secret").inner_text().strip()
    assert secret.startswith("ost_cs_")
    copy = page.get_by_role("button", name="Copy client secret")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert_page_is_usable(page)
    page.reload()
    expect(page.get_by_role("heading", name="Client secret")).to_have_count(0)
    assert secret not in page.content()

    # The new client at the authorization endpoint, in the admin's own browser session.
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": callback,
        "scope": "openid profile",
        "state": state,
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page.goto(f"{server.base_url}/authorize?{urlencode(query)}")
    allow = page.get_by_role("button", name="Allow")
    if allow.count():
        allow.click()
    page.wait_for_url(f"{callback}?*")
    answer = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert answer["state"] == state and answer.get("code"), page.url
    tokens = httpx.post(
        f"{server.base_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": callback,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["id_token"]


def test_keys_and_providers_pages_in_the_browser(server: LiveServer, page: Page) -> None:
    admin = make_console_user(server, "admin")
    browser_sign_in(page, server, admin, "/admin/keys")
    expect(page.get_by_role("heading", name="Signing keys", level=1)).to_be_visible()
    assert_page_is_usable(page)
    page.get_by_role("button", name="Rotate ES256").click()
    expect(page.get_by_role("status")).to_contain_text("New ES256 key")
    assert_page_is_usable(page)

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Providers").click()
    expect(page.get_by_role("heading", name="Identity providers", level=1)).to_be_visible()
    assert_page_is_usable(page)
    page.get_by_role("link", name="Google").click()
    expect(page.get_by_role("heading", name="Add a provider: Google")).to_be_visible()
    assert_page_is_usable(page)
    name = unique("google").lower()
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_label("Client ID").fill("1234.apps.googleusercontent.com")
    page.get_by_label("Client secret").fill("upstream " + secrets.token_urlsafe(8))
    page.get_by_label("Google Workspace domain").fill("example.com")
    page.get_by_role("button", name="Add provider").click()

    page.wait_for_url(f"{server.base_url}/admin/providers/{name}")
    uri = f"{server.base_url}/federation/{name}/callback"
    expect(page.locator("#copy-redirect-uri")).to_have_text(uri)
    assert_page_is_usable(page)
    page.get_by_role("button", name="Delete provider").click()
    page.wait_for_url(f"{server.base_url}/admin/providers")
    expect(page.get_by_role("status")).to_contain_text(f"Provider {name} deleted")
