"""The console's user pages in Chromium: an admin finds a user, creates one (a refused
address first: the error sits at the field, what was typed stays), edits the profile,
gives a role, sets a password and disables the account. Every page passes axe-core (no
serious or critical WCAG 2.1 AA finding) and does not scroll sideways at 390 or 1280 px."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.console_helpers import assert_page_is_usable, browser_sign_in, make_console_user
from tests.e2e.helpers import make_client, make_user, obtain_code

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/ostiary-console-users-browser.png")


@pytest.fixture
def page(server: LiveServer) -> Iterator[Page]:
    require_chromium()
    with launch_chromium() as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        # Disable, delete and the other destructive buttons ask first (data-confirm).
        page.on("dialog", lambda dialog: dialog.accept())
        with screenshot_on_failure(page, SCREENSHOT):
            yield page
        context.close()


def test_an_admin_finds_creates_and_manages_a_user(server: LiveServer, page: Page) -> None:
    admin = make_console_user(server, "admin")
    # Someone with a session, a consent and events, so the page's tables have rows.
    existing = make_user(server)
    obtain_code(server, make_client(server), existing)
    role = unique("editor")
    server.call(lambda services: services.store.access.create_role(role, "Edits"))

    browser_sign_in(page, server, admin, "/admin/users")
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    page.get_by_label("Starts with").fill(existing.upper())
    page.get_by_role("button", name="Search").click()
    found = page.get_by_role("link", name=existing)
    expect(found).to_be_visible()
    assert_page_is_usable(page)
    found.click()
    expect(page.get_by_role("heading", name=f"User {existing}", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="End all sessions")).to_be_visible()
    assert_page_is_usable(page)

    page.goto(f"{server.base_url}/admin/users")
    page.get_by_role("link", name="New user").click()
    expect(page.get_by_role("heading", name="New user", level=1)).to_be_visible()
    assert_page_is_usable(page)
    username = unique("newbie")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill("not an address")
    page.get_by_label("Full name").fill("Newbie Person")
    page.get_by_role("button", name="Create user").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Full name")).to_have_value("Newbie Person")
    assert_page_is_usable(page)
    email.fill(f"{username}@example.com")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"User {username}", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("created")

    page.get_by_role("link", name="Edit profile").click()
    expect(page.get_by_role("heading", name=f"Edit {username}", level=1)).to_be_visible()
    assert_page_is_usable(page)
    page.get_by_label("Family name").fill("Person")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status")).to_have_text("Profile saved.")

    page.get_by_label("Role to add").select_option(role)
    page.get_by_role("button", name="Add role").click()
    expect(page.get_by_role("button", name=f"Remove role {role}")).to_be_visible()

    page.get_by_label(re.compile(r"^New password")).fill("a long new password")
    page.get_by_label("Repeat the new password").fill("a long new password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text("The new password is set.")

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_contain_text("is disabled")
    expect(page.get_by_role("button", name="Enable")).to_be_visible()
    assert_page_is_usable(page)

    async def stored(services: Services) -> tuple[bool, bool, dict[str, object]]:
        user = await services.store.users.by_username(username)
        assert user is not None
        return user.disabled, user.password_hash is not None, user.profile

    assert server.call(stored) == (True, True, {"name": "Newbie Person", "family_name": "Person"})
