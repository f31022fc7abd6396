"""The admin console's everyday jobs end to end in Chromium, as the first administrator.

The bootstrap administrator (``ostiary admin bootstrap``) has a password only, so the
console's demand for a second factor leads them through setting up an authenticator app
at their first sign-in. Then, through the pages alone: register a client (the secret is
read off the page), create a user with a password, give them a role; the user signs in
to the new client (authorization code with PKCE, RFC 6749 §4.1, RFC 7636) and holds a
refresh token; disabling the user in the console ends their session, and the refresh
token stops working at once (RFC 6749 §5.2 invalid_grant).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

from ostiary import clock
from ostiary.accounts.mfa import totp
from ostiary.admin.bootstrap import bootstrap
from tests.conftest import LiveServer, unique
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.console_helpers import CODE_LABEL, assert_page_is_usable
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    login_and_consent,
    pkce_pair,
    query_of,
    redeem_code,
)

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/ostiary-console-journey.png")


@pytest.fixture
def page() -> Iterator[Page]:
    require_chromium()
    with launch_chromium() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        with screenshot_on_failure(page, SCREENSHOT):
            yield page
        context.close()


def first_sign_in(page: Page, server: LiveServer, username: str) -> None:
    """Password, then the authenticator app set up on the spot, then the console."""
    page.goto(f"{server.base_url}/admin/")
    page.get_by_label("Username").fill(username)
    password = page.get_by_label("Password")
    password.fill(PASSWORD)
    password.press("Enter")
    expect(page.get_by_role("heading", name="Set up two-step verification")).to_be_visible()
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    code = page.get_by_label(CODE_LABEL)
    code.fill(pyotp.TOTP(secret).generate_otp(clock.now() // totp.STEP))
    code.press("Enter")
    expect(page.get_by_role("heading", name="Two-step verification is on")).to_be_visible()
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{server.base_url}/admin/")


def test_bootstrap_admin_enrols_a_factor_then_manages_a_client_and_a_user(
    server: LiveServer, page: Page
) -> None:
    root = unique("root")
    server.call(lambda services: bootstrap(services, root, PASSWORD))
    role = unique("reader")
    server.call(lambda services: services.store.access.create_role(role, "reads"))

    first_sign_in(page, server, root)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    # A confidential client for a web application.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Register a new client").click()
    page.locator("#f-client_name").fill("Journey app")
    callback = f"{server.base_url}/demo"
    page.locator("#f-redirect_uris").fill(callback)
    page.locator("#f-scope").fill("read")
    page.get_by_role("button", name="Register client").click()
    expect(page.get_by_role("heading", name="Client secret")).to_be_visible()
    secret = page.locator("#copy-client-secret").inner_text().strip()
    client_id = page.locator("#copy-client-id").inner_text().strip()
    assert secret.startswith("ost_cs_")
    assert_page_is_usable(page)
    client = RegisteredClient(client_id, secret, callback)

    # A user with a password and a role.
    page.goto(f"{server.base_url}/admin/users/new")
    username = unique("dana")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"User {username}")).to_be_visible()
    page.get_by_label("Role to add").select_option(role)
    page.get_by_role("button", name="Add role").click()
    expect(page.get_by_role("cell", name=role, exact=True)).to_be_visible()
    user_page = page.url

    # The user signs in to the client and holds a refresh token.
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    with browser(server) as web:
        answer = login_and_consent(web, params, username)
    assert answer.status_code == 303, answer.text
    code = query_of(answer.headers["location"])["code"]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        tokens = redeem_code(http, client, code, verifier, params)
        assert tokens.status_code == 200, tokens.text
        refresh_token = tokens.json()["refresh_token"]

        page.goto(user_page)
        expect(page.get_by_role("button", name="End all sessions")).to_be_visible()
        page.get_by_role("button", name="Disable", exact=True).click()
        expect(page.get_by_text("disabled", exact=True).first).to_be_visible()
        expect(page.get_by_role("button", name="End all sessions")).to_have_count(0)
        assert_page_is_usable(page)

        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=client.basic_auth(),
        )
        assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
