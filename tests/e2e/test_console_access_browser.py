"""Roles, groups, scopes and the audit log in Chromium: an admin builds an access model
through the pages a person sees, each page checked with axe-core (WCAG 2.1 AA) and for
sideways scrolling at 390 and 1280 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.console_helpers import assert_page_is_usable, browser_sign_in, make_console_user
from tests.e2e.helpers import PASSWORD

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/ostiary-console-access-browser.png")


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


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def test_an_admin_builds_roles_groups_and_scopes_and_reads_the_audit_log(
    server: LiveServer, page: Page
) -> None:
    admin = make_console_user(server, "admin")
    member = unique("member")

    async def person(services: Services) -> None:
        await services.store.users.add(
            username=member,
            email=f"{member}@example.com",
            password_hash=await services.passwords.hash(PASSWORD),
        )

    server.call(person)
    page.on("dialog", _accept)
    browser_sign_in(page, server, admin, "/admin/roles")
    role, group, parent, scope = unique("editor"), unique("team"), unique("dept"), unique("docs")

    # Roles: a wrong name is explained next to the field, then the role is made.
    expect(page.get_by_role("heading", name="Roles", level=1)).to_be_visible()
    page.get_by_role("textbox", name="Name", exact=True).fill("not valid!")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    assert_page_is_usable(page)
    page.get_by_role("textbox", name="Name", exact=True).fill(role)
    page.get_by_label("Description").fill("edits documents")
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("heading", name=f"Role {role}", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("created")
    assert_page_is_usable(page)

    # Groups: two, one nested in the other, a role and a member.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Groups").click()
    for name in (parent, group):
        page.get_by_role("textbox", name="Name", exact=True).fill(name)
        page.get_by_role("button", name="Create group").click()
        expect(page.get_by_role("heading", name=f"Group {name}", level=1)).to_be_visible()
        if name == parent:
            page.get_by_role("link", name="← Groups").click()
    page.get_by_label("Role to grant").select_option(role)
    page.get_by_role("button", name="Grant role").click()
    expect(page.get_by_role("status")).to_contain_text(f"Role {role} granted")
    page.get_by_label("Nest in group (name or id)").fill(parent)
    page.get_by_role("button", name="Nest").click()
    expect(page.get_by_role("status")).to_contain_text(f"Nested in {parent}")
    page.get_by_label("Add member (username or user id)").fill(member)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("added to the group")
    expect(page.get_by_role("cell", name=member, exact=True)).to_be_visible()
    assert_page_is_usable(page)
    page.get_by_role("button", name=f"Remove {member}").click()
    expect(page.get_by_role("status")).to_contain_text("Member removed")
    page.get_by_role("link", name="← Groups").click()
    page.get_by_role("searchbox", name="Name starts with").fill(group)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("link", name=group)).to_be_visible()
    assert_page_is_usable(page)

    # Scopes: one gated by the new role.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Scopes").click()
    page.get_by_role("textbox", name="Name", exact=True).fill(scope + "/read")
    page.get_by_label(role, exact=True).check()
    page.get_by_role("button", name="Create scope").click()
    expect(page.get_by_role("heading", name=f"Scope {scope}/read", level=1)).to_be_visible()
    assert_page_is_usable(page)
    page.goto(f"{server.base_url}/admin/scopes?q={scope}")
    expect(page.get_by_role("link", name=f"{scope}/read")).to_be_visible()
    assert_page_is_usable(page)

    # The role now lists its group and its scope.
    page.goto(f"{server.base_url}/admin/roles/{role}")
    expect(page.get_by_role("link", name=group)).to_be_visible()
    expect(page.get_by_role("link", name=f"{scope}/read")).to_be_visible()

    # The audit log: what was just done, filtered by type.
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    assert_page_is_usable(page)
    page.get_by_label("Event type").fill("group.nested")
    page.get_by_role("button", name="Show events").click()
    expect(page.get_by_role("cell", name="group.nested").first).to_be_visible()
    expect(page.get_by_role("cell", name=f"admin:{admin.user_id}").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these events as JSON Lines").click()
    assert download.value.suggested_filename.endswith(".jsonl")
    assert_page_is_usable(page)
    page.get_by_label("From (UTC)").fill("not a time")
    page.get_by_role("button", name="Show events").click()
    expect(page.get_by_label("From (UTC)")).to_have_attribute("aria-invalid", "true")
    assert_page_is_usable(page)
