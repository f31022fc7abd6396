"""The console's frame in Chromium: sign-in with a second factor, the dashboard, the
navigation, keyboard use, accessibility (axe-core, WCAG 2.1 AA) and narrow screens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.console_helpers import assert_page_is_usable, browser_sign_in, make_console_user

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/ostiary-console-browser.png")
NAVIGATION = ("Users", "Clients", "Roles", "Groups", "Scopes", "Providers", "Keys", "Audit")


@pytest.fixture
def page() -> Iterator[Page]:
    require_chromium()
    with launch_chromium() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        with screenshot_on_failure(page, SCREENSHOT):
            yield page
        context.close()


def test_an_admin_signs_in_with_a_code_and_reaches_every_area_by_name(
    server: LiveServer, page: Page
) -> None:
    admin = make_console_user(server, "admin")
    browser_sign_in(page, server, admin)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    nav = page.get_by_role("navigation", name="Console")
    for name in NAVIGATION:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    assert_page_is_usable(page)


def test_the_dashboard_and_sign_out_work_from_the_keyboard(server: LiveServer, page: Page) -> None:
    admin = make_console_user(server, "admin")
    browser_sign_in(page, server, admin)
    # The first stop of the tab order skips the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.base_url}/admin/signed-out")
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert_page_is_usable(page)


def test_a_user_admin_sees_only_what_their_role_reaches(server: LiveServer, page: Page) -> None:
    person = make_console_user(server, "user-admin")
    browser_sign_in(page, server, person)
    nav = page.get_by_role("navigation", name="Console")
    for name in ("Users", "Roles", "Groups", "Scopes"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    for name in ("Clients", "Providers", "Keys", "Audit"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_have_count(0)
    # No audit events and no keys on a user-admin's dashboard.
    expect(page.get_by_role("heading", name="Recent events")).to_have_count(0)
    expect(page.get_by_role("heading", name="Signing keys")).to_have_count(0)
    assert_page_is_usable(page)
