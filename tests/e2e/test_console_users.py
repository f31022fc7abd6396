"""The console's user pages against a real server: search, create, the detail page and
every action on it, each console role's reach (including the rule that only an admin acts
on a console role), CSRF, and the audit events naming the acting admin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from ostiary import clock
from ostiary.accounts.mfa import totp
from ostiary.domain.audit import AuditEvent
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.storage.tables import federation_providers, scim_users
from tests.conftest import LiveServer, unique
from tests.e2e import account_fixtures
from tests.e2e.account_fixtures import Mailbox, link_in
from tests.e2e.console_helpers import (
    ConsoleUser,
    console_csrf,
    make_console_user,
    signed_in_client,
)
from tests.e2e.helpers import PASSWORD, make_client, make_user, obtain_code
from tests.e2e.test_admin_api import exchange, introspect, refresh

mailbox = account_fixtures.mailbox
mail_server = account_fixtures.mail_server


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> ConsoleUser:
    return make_console_user(server, "admin")


@pytest.fixture(scope="module")
def web(server: LiveServer, admin: ConsoleUser) -> Iterator[httpx.Client]:
    with signed_in_client(server, admin) as client:
        yield client


@pytest.fixture(scope="module")
def user_admin(server: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(server, make_console_user(server, "user-admin")) as client:
        yield client


@pytest.fixture(scope="module")
def auditor(server: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(server, make_console_user(server, "auditor")) as client:
        yield client


def new_user(server: LiveServer, prefix: str = "person", **fields: Any) -> User:
    """A plain user made directly in the store (no password unless given)."""
    username = unique(prefix)
    values: dict[str, Any] = {"email": f"{username}@example.com", "password_hash": None, **fields}

    async def create(services: Services) -> User:
        password = values.pop("password", None)
        if password:
            values["password_hash"] = await services.passwords.hash(password)
        return await services.store.users.add(username=username, **values)

    return server.call(create)


def user_named(server: LiveServer, username: str) -> User:
    found = server.call(lambda services: services.store.users.by_username(username))
    assert found is not None
    return found


def fresh(server: LiveServer, user_id: str) -> User | None:
    return server.call(lambda services: services.store.users.get(user_id))


def events(server: LiveServer, user_id: str, type: str) -> list[AuditEvent]:
    async def read(services: Services) -> list[AuditEvent]:
        await services.audit.flush()
        return await services.store.audit.query(user_id=user_id, type=type)

    return server.call(read)


def act(web: httpx.Client, user_id: str, action: str, **fields: str) -> httpx.Response:
    """Press a button of the user's page (a POST with the page's CSRF token)."""
    csrf = console_csrf(web, f"/admin/users/{user_id}")
    return web.post(f"/admin/users/{user_id}/{action}", data={"csrf": csrf, **fields})


def done(answer: httpx.Response, user_id: str | None = None) -> None:
    assert answer.status_code == 303, answer.text
    if user_id is not None:
        assert answer.headers["location"] == f"/admin/users/{user_id}"


def by_admin(admin: ConsoleUser, found: list[AuditEvent]) -> None:
    assert found and all(e.actor == f"admin:{admin.user_id}" for e in found), found


# -- search ------------------------------------------------------------------------------


def test_search_finds_users_by_username_prefix_in_any_case(
    server: LiveServer, web: httpx.Client
) -> None:
    tag = unique("Srch").replace("-", "")
    made = [new_user(server, f"{tag}a"), new_user(server, f"{tag}b"), new_user(server, "other")]
    page = web.get("/admin/users", params={"q": tag.upper(), "by": "username"})
    assert page.status_code == 200
    assert made[0].username in page.text and made[1].username in page.text
    assert made[2].username not in page.text
    assert page.text.index(made[0].username) < page.text.index(made[1].username)
    assert f'href="/admin/users/{made[0].id}"' in page.text


def test_search_finds_users_by_email_prefix(server: LiveServer, web: httpx.Client) -> None:
    tag = unique("mail").replace("-", "")
    found = new_user(server, email=f"{tag}@Example.com")
    new_user(server)
    page = web.get("/admin/users", params={"q": tag.upper() + "@exa", "by": "email"})
    assert page.status_code == 200 and found.username in page.text
    assert page.text.count('href="/admin/users/') - page.text.count("/admin/users/new") == 1


def test_search_finds_users_by_provisioned_name(server: LiveServer, web: httpx.Client) -> None:
    tag = unique("zora").replace("-", "")
    display, given = new_user(server), new_user(server)

    async def provision(services: Services) -> None:
        async with services.engine.begin() as conn:
            where = scim_users.c.user_id
            await conn.execute(
                update(scim_users).where(where == display.id).values(display_name_ci=f"{tag} smith")
            )
            await conn.execute(
                update(scim_users).where(where == given.id).values(given_name_ci=f"{tag}ida")
            )

    server.call(provision)
    page = web.get("/admin/users", params={"q": tag.capitalize(), "by": "name"})
    assert page.status_code == 200
    assert display.username in page.text and given.username in page.text


def test_search_pages_with_a_cursor(server: LiveServer, web: httpx.Client) -> None:
    tag = unique("page").replace("-", "")

    async def create(services: Services) -> list[str]:
        names = [f"{tag}{i:02d}" for i in range(52)]
        for name in names:
            await services.store.users.add(username=name, email=None, password_hash=None)
        return names

    names = server.call(create)
    first = web.get("/admin/users", params={"q": tag})
    assert names[0] in first.text and names[49] in first.text and names[50] not in first.text
    next_url = re.search(r'class="pager"><a href="([^"]+)"', first.text)
    assert next_url
    second = web.get(next_url.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert names[50] in second.text and names[51] in second.text and names[0] not in second.text
    assert 'class="pager"' not in second.text


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 151},
        {"q": "a", "by": "nonsense"},
        {"q": "a\x00b", "by": "email"},
        {"q": "a", "cursor": "%%%not-base64"},
        {"q": "a", "cursor": "AA"},
        {"q": "\ufffd\U0001f600", "by": "name"},
        {"q": "\U0001f600", "by": "username"},
    ],
)
def test_odd_search_input_is_never_a_server_error(
    web: httpx.Client, params: dict[str, str]
) -> None:
    answer = web.get("/admin/users", params=params)
    if "\x00" in params["q"]:
        # The console refuses a NUL anywhere in its address, before any page runs.
        assert answer.status_code in (400, 404), answer.text
        return
    assert answer.status_code in (200, 422), answer.text
    assert 'id="f-q"' in answer.text


# -- create ------------------------------------------------------------------------------


def create(web: httpx.Client, **fields: str) -> httpx.Response:
    data = {"csrf": console_csrf(web, "/admin/users/new"), **fields}
    return web.post("/admin/users/new", data=data)


def test_creating_a_user_with_a_password_audits_the_admin(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    username = unique("made")
    answer = create(
        web, username=username, email=f"{username}@example.com", name="Ada L", password=PASSWORD
    )
    done(answer)
    user = user_named(server, username)
    assert answer.headers["location"] == f"/admin/users/{user.id}"
    assert user.password_hash and user.profile == {"name": "Ada L"}
    page = web.get(answer.headers["location"])
    assert f"User {username} created." in page.text and "Ada L" in page.text
    assert user.password_hash not in page.text
    by_admin(admin, events(server, user.id, "user.created"))


def test_creating_a_user_without_a_password(server: LiveServer, web: httpx.Client) -> None:
    username = unique("nopass")
    done(create(web, username=username, email="", password=""))
    user = user_named(server, username)
    assert user.password_hash is None and user.email is None


def test_without_smtp_the_new_user_form_says_no_mail_can_be_sent(web: httpx.Client) -> None:
    page = web.get("/admin/users/new")
    assert page.status_code == 200
    assert 'name="send_reset"' not in page.text and "No mail can be sent" in page.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "", "email": "kept@example.com"}, "username"),
        ({"username": "fine-name", "email": "not an address"}, "email"),
        ({"username": "fine-name", "password": "short"}, "password"),
        ({"username": "fine-name", "name": "two\nlines"}, "name"),
    ],
)
def test_a_refused_new_user_is_shown_again_with_what_was_typed(
    web: httpx.Client, fields: dict[str, str], field: str
) -> None:
    answer = create(web, **fields)
    assert answer.status_code == 422, answer.text
    assert f'id="e-{field}"' in answer.text
    assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', answer.text)
    if fields.get("email"):
        assert f'value="{fields["email"]}"' in answer.text
    assert 'value="short"' not in answer.text  # a password is never sent back


def test_a_taken_username_is_an_error_at_the_username(
    server: LiveServer, web: httpx.Client
) -> None:
    existing = new_user(server)
    answer = create(web, username=existing.username.upper())
    assert answer.status_code == 422 and 'id="e-username"' in answer.text


def test_new_user_with_a_reset_link_mailed(mail_server: LiveServer, mailbox: Mailbox) -> None:
    admin = make_console_user(mail_server, "admin")
    username = unique("mailed")
    with signed_in_client(mail_server, admin) as web:
        answer = create(web, username=username, email=f"{username}@example.com", send_reset="on")
        done(answer)
        assert "was sent to" in web.get(answer.headers["location"]).text
    message = mailbox.wait_for(f"{username}@example.com")
    assert "/account/reset?token=ost_rs_" in link_in(message)
    user = user_named(mail_server, username)
    by_admin(admin, events(mail_server, user.id, "password.reset_sent"))


# -- the detail page and its actions -----------------------------------------------------


def test_the_detail_page_shows_the_account_and_never_a_secret(
    server: LiveServer, web: httpx.Client
) -> None:
    user = new_user(server, password=PASSWORD)
    page = web.get(f"/admin/users/{user.id}")
    assert page.status_code == 200
    assert user.username in page.text and user.email in page.text  # type: ignore[operator]
    for heading in ("Roles", "Groups", "Linked identities", "Second factors", "Sessions"):
        assert f">{heading}</h2>" in page.text
    assert "Consents" in page.text and "Audit trail" in page.text
    assert user.password_hash is not None and user.password_hash not in page.text
    assert "$argon2" not in page.text


@pytest.mark.parametrize("path", ["/admin/users/no-such-user", "/admin/users/no-such/edit"])
def test_an_unknown_user_is_a_404_page(web: httpx.Client, path: str) -> None:
    answer = web.get(path)
    assert answer.status_code == 404 and "does not exist" in answer.text


def test_an_action_on_an_unknown_user_is_a_404(web: httpx.Client) -> None:
    csrf = console_csrf(web, "/admin/users")
    assert web.post("/admin/users/nobody/disable", data={"csrf": csrf}).status_code == 404


def test_editing_the_profile(server: LiveServer, web: httpx.Client, admin: ConsoleUser) -> None:
    user = new_user(server)
    csrf = console_csrf(web, f"/admin/users/{user.id}/edit")
    answer = web.post(
        f"/admin/users/{user.id}/edit",
        data={
            "csrf": csrf,
            "email": f"new-{user.username}@example.com",
            "phone_number": "+1 555 0100",
            "name": "Grace H",
            "family_name": "Hopper",
        },
    )
    done(answer, user.id)
    changed = fresh(server, user.id)
    assert changed is not None and changed.email == f"new-{user.username}@example.com"
    assert changed.email_verified is False and changed.phone_number == "+1 555 0100"
    assert changed.profile == {"name": "Grace H", "family_name": "Hopper"}
    by_admin(admin, events(server, user.id, "user.updated"))


def test_a_refused_profile_keeps_what_was_typed(server: LiveServer, web: httpx.Client) -> None:
    user = new_user(server)
    csrf = console_csrf(web, f"/admin/users/{user.id}/edit")
    answer = web.post(
        f"/admin/users/{user.id}/edit",
        data={"csrf": csrf, "email": "broken@", "name": "Kept Name", "phone_number": "abc"},
    )
    assert answer.status_code == 422
    assert 'id="e-email"' in answer.text and 'id="e-phone_number"' in answer.text
    assert 'value="Kept Name"' in answer.text and 'value="broken@"' in answer.text


def test_disabling_ends_sessions_and_refresh_tokens_stop_working(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client = make_client(server)
    username = make_user(server)
    code, verifier, _ = obtain_code(server, client, username)
    user = user_named(server, username)
    with httpx.Client(base_url=server.base_url) as http:
        tokens = exchange(http, client, code, verifier)
        assert "Sessions" in web.get(f"/admin/users/{user.id}").text
        assert server.call(lambda s: s.store.sessions.for_user(user.id))
        done(act(web, user.id, "disable"), user.id)
        refused = refresh(http, client, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        assert introspect(http, client, tokens["access_token"]) == {"active": False}
    assert server.call(lambda s: s.store.sessions.for_user(user.id)) == []
    assert fresh(server, user.id).disabled  # type: ignore[union-attr]
    by_admin(admin, events(server, user.id, "user.disabled"))
    done(act(web, user.id, "enable"), user.id)
    assert not fresh(server, user.id).disabled  # type: ignore[union-attr]
    by_admin(admin, events(server, user.id, "user.enabled"))


def test_unlocking_clears_the_account_lock(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    user = new_user(server)

    async def lock(services: Services) -> None:
        from ostiary.accounts.throttle import account_key

        key = account_key(user.username)
        await services.store.throttles.fail(key, window=600)
        await services.store.throttles.lock(key, 2**40)

    server.call(lock)
    answer = act(web, user.id, "unlock")
    done(answer, user.id)
    assert "The account is unlocked." in web.get(answer.headers["location"]).text
    found = events(server, user.id, "user.unlocked")
    by_admin(admin, found)
    assert found[-1].details == {"count": 1}


def test_setting_a_password(server: LiveServer, web: httpx.Client, admin: ConsoleUser) -> None:
    user = new_user(server)
    new_password = "a brand new passphrase"
    answer = act(web, user.id, "password", password=new_password, password_repeat=new_password)
    done(answer, user.id)
    stored = fresh(server, user.id)
    assert stored is not None and stored.password_hash
    assert server.call(lambda s: s.passwords.verify(stored.password_hash, new_password))
    by_admin(admin, events(server, user.id, "user.password_set"))


@pytest.mark.parametrize(
    ("password", "repeat", "field"),
    [("short", "short", "password"), ("long enough one", "different one", "password_repeat")],
)
def test_a_refused_password_says_why_next_to_the_field(
    server: LiveServer, web: httpx.Client, password: str, repeat: str, field: str
) -> None:
    user = new_user(server)
    answer = act(web, user.id, "password", password=password, password_repeat=repeat)
    assert answer.status_code == 422 and f'id="e-{field}"' in answer.text
    assert f'value="{password}"' not in answer.text
    assert fresh(server, user.id).password_hash is None  # type: ignore[union-attr]


def test_reset_email_without_smtp_is_refused_with_a_reason(
    server: LiveServer, web: httpx.Client
) -> None:
    user = new_user(server)
    answer = act(web, user.id, "reset-email")
    assert answer.status_code == 422 and "OSTIARY_SMTP__HOST" in answer.text


def test_roles_are_added_and_removed(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    user = new_user(server)
    role = unique("editor")
    server.call(lambda s: s.store.access.create_role(role, "Edits"))
    assert f'<option value="{role}">' in web.get(f"/admin/users/{user.id}").text
    done(act(web, user.id, "roles/add", role=role), user.id)
    assert server.call(lambda s: s.store.access.direct_roles(user.id)) == [role]
    done(act(web, user.id, "roles/remove", role=role), user.id)
    assert server.call(lambda s: s.store.access.direct_roles(user.id)) == []
    by_admin(admin, events(server, user.id, "role.assigned"))
    by_admin(admin, events(server, user.id, "role.unassigned"))
    assert act(web, user.id, "roles/add", role="no-such-role").status_code == 404


def make_group(server: LiveServer, *roles: str, parent: str | None = None) -> str:
    async def create(services: Services) -> str:
        group = await services.store.access.create_group(unique("team"))
        for role in roles:
            await services.store.access.grant_group_role(group.id, role)
        if parent is not None:
            await services.store.access.nest(group.id, parent)
        return group.id

    return server.call(create)


def test_groups_are_joined_and_left(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    user = new_user(server)
    group_id = make_group(server)
    done(act(web, user.id, "groups/add", group_id=group_id), user.id)
    assert user.id in server.call(lambda s: s.store.access.members(group_id))
    done(act(web, user.id, "groups/remove", group_id=group_id), user.id)
    assert user.id not in server.call(lambda s: s.store.access.members(group_id))
    by_admin(admin, events(server, user.id, "group.member_added"))
    by_admin(admin, events(server, user.id, "group.member_removed"))


def add_factor(server: LiveServer, user_id: str) -> str:
    async def enrol(services: Services) -> str:
        factor_id, _ = await totp.begin(services.store.factors, services.settings, user_id, "app")
        return factor_id

    return server.call(enrol)


def test_one_factor_is_removed_then_all_are_reset(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    user = new_user(server)
    first, second = add_factor(server, user.id), add_factor(server, user.id)
    page = web.get(f"/admin/users/{user.id}").text
    assert "Remove factor app" in page
    done(act(web, user.id, "mfa/remove", factor_id=first), user.id)
    left = server.call(lambda s: s.store.factors.for_user(user.id))
    assert [f.id for f in left] == [second]
    done(act(web, user.id, "mfa/reset"), user.id)
    assert server.call(lambda s: s.store.factors.for_user(user.id)) == []
    by_admin(admin, events(server, user.id, "mfa.reset"))
    assert act(web, user.id, "mfa/remove", factor_id=first).status_code == 404


def test_sessions_end_one_by_one_or_all_at_once(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client = make_client(server)
    username = make_user(server)
    for _ in range(3):
        obtain_code(server, client, username)
    user = user_named(server, username)
    sessions = server.call(lambda s: s.store.sessions.for_user(user.id))
    assert len(sessions) == 3
    done(act(web, user.id, "sessions/end-one", sid=sessions[0].sid), user.id)
    assert len(server.call(lambda s: s.store.sessions.for_user(user.id))) == 2
    assert act(web, user.id, "sessions/end-one", sid=sessions[0].sid).status_code == 404
    done(act(web, user.id, "sessions/end"), user.id)
    assert server.call(lambda s: s.store.sessions.for_user(user.id)) == []
    found = events(server, user.id, "session.ended_by_admin")
    by_admin(admin, found)
    assert found[-1].details == {"count": 2}


def test_a_consent_is_revoked(server: LiveServer, web: httpx.Client, admin: ConsoleUser) -> None:
    client = make_client(server)
    username = make_user(server)
    obtain_code(server, client, username)
    user = user_named(server, username)
    assert client.client_id in web.get(f"/admin/users/{user.id}").text
    done(act(web, user.id, "consents/revoke", client_id=client.client_id), user.id)
    granted = server.call(lambda s: s.store.consents.granted(user.id, client.client_id))
    assert granted is None
    by_admin(admin, events(server, user.id, "consent.revoked"))


def test_the_audit_trail_shows_the_newest_events_first(
    server: LiveServer, web: httpx.Client
) -> None:
    user = new_user(server)
    done(act(web, user.id, "disable"), user.id)
    done(act(web, user.id, "enable"), user.id)
    page = web.get(f"/admin/users/{user.id}").text
    trail = page[page.index("Audit trail") :]
    assert trail.index("user.enabled") < trail.index("user.disabled")


def test_deleting_a_user(server: LiveServer, web: httpx.Client, admin: ConsoleUser) -> None:
    user = new_user(server)
    answer = act(web, user.id, "delete")
    done(answer)
    assert answer.headers["location"] == "/admin/users"
    assert fresh(server, user.id) is None
    assert f"User {user.username} deleted." in web.get("/admin/users").text

    async def deleted(services: Services) -> list[AuditEvent]:
        await services.audit.flush()
        return [
            e
            for e in await services.store.audit.query(type="user.deleted", limit=10_000)
            if e.actor == f"admin:{admin.user_id}"
        ]

    assert server.call(deleted)


# -- who may do what ---------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused(server: LiveServer, web: httpx.Client) -> None:
    user = new_user(server)
    answer = web.post(f"/admin/users/{user.id}/disable", data={"other": "1"})
    assert answer.status_code == 403
    assert web.post("/admin/users/new", data={"username": unique("x")}).status_code == 403
    assert not fresh(server, user.id).disabled  # type: ignore[union-attr]


def test_an_auditor_reads_users_and_changes_nothing(
    server: LiveServer, auditor: httpx.Client
) -> None:
    user = new_user(server)
    assert auditor.get("/admin/users").status_code == 200
    page = auditor.get(f"/admin/users/{user.id}")
    assert page.status_code == 200 and "/disable" not in page.text
    assert auditor.get("/admin/users/new").status_code == 403
    assert auditor.get(f"/admin/users/{user.id}/edit").status_code == 403
    csrf = console_csrf(auditor, "/admin/users")
    for action in ("disable", "delete", "password", "unlock", "sessions/end", "mfa/reset"):
        answer = auditor.post(f"/admin/users/{user.id}/{action}", data={"csrf": csrf})
        assert answer.status_code == 403, action
    assert auditor.post("/admin/users/new", data={"csrf": csrf}).status_code == 403
    assert not fresh(server, user.id).disabled  # type: ignore[union-attr]


def test_a_user_admin_manages_plain_users(server: LiveServer, user_admin: httpx.Client) -> None:
    user = new_user(server)
    role = unique("plain")
    server.call(lambda s: s.store.access.create_role(role, "Plain"))
    done(act(user_admin, user.id, "roles/add", role=role), user.id)
    done(act(user_admin, user.id, "groups/add", group_id=make_group(server, role)), user.id)
    done(act(user_admin, user.id, "disable"), user.id)
    done(act(user_admin, user.id, "delete"))


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("disable", {}),
        ("delete", {}),
        ("password", {"password": "long enough pass", "password_repeat": "long enough pass"}),
        ("mfa/reset", {}),
        ("sessions/end", {}),
        ("edit", {"email": "taken-over@example.com"}),
        ("roles/add", {"role": "user-admin"}),
    ],
)
def test_a_user_admin_may_not_act_on_a_console_role_holder(
    server: LiveServer, user_admin: httpx.Client, action: str, fields: dict[str, str]
) -> None:
    holder = make_console_user(server, "auditor", with_totp=False)
    page = user_admin.get(f"/admin/users/{holder.user_id}")
    assert page.status_code == 200 and "only an admin may change" in page.text
    answer = act(user_admin, holder.user_id, action, **fields)
    assert answer.status_code == 403, answer.text
    kept = fresh(server, holder.user_id)
    assert kept is not None and not kept.disabled and kept.email != "taken-over@example.com"


def test_a_user_admin_may_not_grant_a_console_role_directly_or_through_groups(
    server: LiveServer, user_admin: httpx.Client
) -> None:
    user = new_user(server)
    for role in ("admin", "user-admin", "auditor"):
        assert act(user_admin, user.id, "roles/add", role=role).status_code == 403
    parent = make_group(server, "admin")
    child = make_group(server, parent=parent)
    assert act(user_admin, user.id, "groups/add", group_id=child).status_code == 403
    assert act(user_admin, user.id, "groups/add", group_id=parent).status_code == 403
    assert server.call(lambda s: s.store.access.effective(user.id)).roles == frozenset()


def test_an_admin_cannot_disable_or_delete_their_own_account(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    for action in ("disable", "delete"):
        answer = act(web, admin.user_id, action)
        assert answer.status_code == 409 and "your own account" in answer.text
    assert not fresh(server, admin.user_id).disabled  # type: ignore[union-attr]


def test_a_user_admin_is_offered_only_roles_they_may_grant(
    server: LiveServer, user_admin: httpx.Client, web: httpx.Client
) -> None:
    user = new_user(server)
    offered = user_admin.get(f"/admin/users/{user.id}").text
    assert '<option value="auditor">' not in offered and '<option value="admin">' not in offered
    assert '<option value="auditor">' in web.get(f"/admin/users/{user.id}").text


def test_linked_identities_are_listed(server: LiveServer, web: httpx.Client) -> None:
    user = new_user(server)
    provider = unique("idp")

    async def link(services: Services) -> None:
        now = clock.now()
        async with services.engine.begin() as conn:
            await conn.execute(
                insert(federation_providers).values(
                    name=provider,
                    display_name="Upstream",
                    preset="oidc",
                    issuer="https://idp.example",
                    client_id="rp",
                    scopes=["openid"],
                    created_at=now,
                    updated_at=now,
                )
            )
        await services.store.federation.link(provider, "sub-123", user.id, "up@example.com")

    server.call(link)
    page = web.get(f"/admin/users/{user.id}").text
    section = page[page.index("Linked identities") :]
    assert provider in section and "sub-123" in section and "up@example.com" in section


def test_an_admin_may_grant_a_console_role(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    user = new_user(server)
    done(act(web, user.id, "roles/add", role="auditor"), user.id)
    done(act(web, user.id, "roles/remove", role="auditor"), user.id)
