"""The console's roles, groups and scopes pages against a real server: listing, creating,
editing, each action, validation, 404s, each console role's reach, CSRF, and the audit
event each change writes with the acting admin as actor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from ostiary.domain.access import Group
from ostiary.domain.audit import AuditEvent
from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import ConsoleUser, console_csrf, make_console_user, signed_in_client
from tests.e2e.helpers import PASSWORD


class Console:
    """A signed-in console user: GET pages, POST forms with the session's CSRF token."""

    def __init__(self, server: LiveServer, user: ConsoleUser) -> None:
        self.user = user
        self.web = signed_in_client(server, user)
        self.csrf = console_csrf(self.web)

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.web.get(path, params=params)

    def post(
        self, path: str, data: dict[str, Any] | None = None, csrf: bool = True
    ) -> httpx.Response:
        fields = dict(data or {})
        if csrf:
            fields["csrf"] = self.csrf
        return self.web.post(path, data=fields)

    @property
    def actor(self) -> str:
        return f"admin:{self.user.user_id}"


@pytest.fixture
def admin(server: LiveServer) -> Iterator[Console]:
    console = Console(server, make_console_user(server, "admin"))
    yield console
    console.web.close()


@pytest.fixture
def user_admin(server: LiveServer) -> Iterator[Console]:
    console = Console(server, make_console_user(server, "user-admin"))
    yield console
    console.web.close()


@pytest.fixture
def auditor(server: LiveServer) -> Iterator[Console]:
    console = Console(server, make_console_user(server, "auditor"))
    yield console
    console.web.close()


# -- helpers -------------------------------------------------------------------------------


def events(server: LiveServer, type: str, **filters: Any) -> list[AuditEvent]:
    return server.call(lambda s: s.store.audit.query(type=type, **filters, limit=1000))


def last_event(server: LiveServer, type: str, actor: str) -> AuditEvent:
    found = [e for e in events(server, type) if e.actor == actor]
    assert found, f"no {type} event by {actor}"
    return found[-1]


def redirected_to(answer: httpx.Response, path: str) -> None:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == path


def make_role(server: LiveServer, name: str | None = None) -> str:
    role = name or unique("role")

    async def create(services: Services) -> str:
        await services.store.access.create_role(role, "made by a test")
        return role

    return server.call(create)


def make_group(server: LiveServer, *, roles: tuple[str, ...] = ()) -> Group:
    async def create(services: Services) -> Group:
        group = await services.store.access.create_group(unique("group"), None)
        for role in roles:
            await services.store.access.grant_group_role(group.id, role)
        return group

    return server.call(create)


def make_person(server: LiveServer) -> tuple[str, str]:
    """(id, username) of a plain user."""
    username = unique("person")

    async def create(services: Services) -> tuple[str, str]:
        user = await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            password_hash=await services.passwords.hash(PASSWORD),
        )
        return user.id, username

    return server.call(create)


def member_ids(server: LiveServer, group_id: str) -> list[str]:
    return server.call(lambda s: s.store.access.members(group_id))


def invalid_field(html: str, name: str) -> str:
    """The error message shown next to field ``name`` (and that the field is marked)."""
    assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true"', html) or re.search(
        rf'aria-invalid="true"[^>]*id="f-{name}"', html
    ), html
    found = re.search(rf'<p class="field-error" id="e-{name}">([^<]*)</p>', html)
    assert found, html
    return found.group(1)


# -- roles ---------------------------------------------------------------------------------


def test_roles_list_shows_every_role_and_an_admin_gets_the_create_form(
    server: LiveServer, admin: Console
) -> None:
    role = make_role(server)
    page = admin.get("/admin/roles", q=role)
    assert page.status_code == 200
    assert f'href="/admin/roles/{role}"' in page.text
    assert 'href="/admin/roles/admin"' not in page.text
    assert 'href="/admin/roles/admin"' in admin.get("/admin/roles", q="adm").text
    assert 'method="post" action="/admin/roles"' in page.text and "<h1>Roles</h1>" in page.text


@pytest.mark.parametrize("kind", ["roles", "groups", "scopes"])
def test_lists_page_by_cursor_through_every_item_once_and_a_bad_cursor_is_400(
    server: LiveServer, admin: Console, kind: str
) -> None:
    prefix = unique("paged")

    async def create(services: Services) -> None:
        access = services.store.access
        for n in range(55):
            name = f"{prefix}-{n:02d}"
            if kind == "roles":
                await access.create_role(name, "")
            elif kind == "groups":
                await access.create_group(name, None)
            else:
                await access.create_scope(name, description="")

    server.call(create)
    seen: list[str] = []
    page = admin.get(f"/admin/{kind}", q=prefix)
    pages = 1
    while True:
        assert page.status_code == 200
        seen += re.findall(rf">(?:<code>)?({prefix}-\d\d)<", page.text)
        found = re.search(r'<p class="pager"><a href="([^"]+)"', page.text)
        if found is None:
            break
        link = found.group(1).replace("&amp;", "&")
        assert f"q={prefix}" in link
        page = admin.web.get(link)
        pages += 1
    assert pages == 2
    assert seen == [f"{prefix}-{n:02d}" for n in range(55)]
    # Everything, unfiltered, pages through too.
    assert admin.get(f"/admin/{kind}").status_code == 200
    assert admin.get(f"/admin/{kind}", cursor="not-a-cursor").status_code == 400


def test_admin_creates_a_role_and_the_event_names_them(server: LiveServer, admin: Console) -> None:
    name = unique("editors")
    answer = admin.post(
        "/admin/roles", {"name": name, "description": "edit things", "require_mfa": "on"}
    )
    redirected_to(answer, f"/admin/roles/{name}")
    page = admin.get(f"/admin/roles/{name}")
    assert page.status_code == 200 and "edit things" in page.text
    assert f"Role {name} created." in page.text
    role = server.call(lambda s: s.store.access.get_role(name))
    assert role is not None and role.require_mfa
    event = last_event(server, "role.created", admin.actor)
    assert event.details["after"]["name"] == name


def test_a_bad_role_name_is_shown_next_to_the_field_with_the_input_kept(
    admin: Console,
) -> None:
    answer = admin.post("/admin/roles", {"name": "no spaces allowed", "description": "kept text"})
    assert answer.status_code == 422
    assert invalid_field(answer.text, "name")
    assert 'value="no spaces allowed"' in answer.text and "kept text" in answer.text


def test_a_taken_role_name_is_409_next_to_the_name(server: LiveServer, admin: Console) -> None:
    role = make_role(server)
    answer = admin.post("/admin/roles", {"name": role})
    assert answer.status_code == 409
    assert "exists already" in invalid_field(answer.text, "name")


def test_admin_edits_a_role_and_the_change_is_audited(server: LiveServer, admin: Console) -> None:
    role = make_role(server)
    answer = admin.post(
        f"/admin/roles/{role}", {"description": "now described", "require_mfa": "on"}
    )
    redirected_to(answer, f"/admin/roles/{role}")
    saved = server.call(lambda s: s.store.access.get_role(role))
    assert saved is not None and saved.description == "now described" and saved.require_mfa
    event = last_event(server, "role.updated", admin.actor)
    assert event.details["before"]["name"] == role
    assert event.details["after"]["description"] == "now described"


def test_a_too_long_role_description_keeps_the_input(server: LiveServer, admin: Console) -> None:
    role = make_role(server)
    answer = admin.post(f"/admin/roles/{role}", {"description": "x" * 1001})
    assert answer.status_code == 422
    assert invalid_field(answer.text, "description")
    assert "x" * 1001 in answer.text


def test_a_role_page_lists_its_holders_groups_and_gated_scopes(
    server: LiveServer, admin: Console
) -> None:
    role = make_role(server)
    user_id, username = make_person(server)
    group = make_group(server, roles=(role,))
    scope = unique("read") + ":things"

    async def link(services: Services) -> None:
        await services.store.access.assign(user_id, role)
        await services.store.access.create_scope(scope, description="", required_roles=[role])

    server.call(link)
    page = admin.get(f"/admin/roles/{role}")
    assert page.status_code == 200
    assert username in page.text and group.name in page.text and scope in page.text
    # A role gating a scope: deleting it is refused (fail closed), with the reason.
    refused = admin.post(f"/admin/roles/{role}/delete")
    assert refused.status_code == 409 and "gates scope" in refused.text


def test_admin_deletes_a_role_and_the_deletion_is_audited(
    server: LiveServer, admin: Console
) -> None:
    role = make_role(server)
    redirected_to(admin.post(f"/admin/roles/{role}/delete"), "/admin/roles")
    assert server.call(lambda s: s.store.access.get_role(role)) is None
    assert last_event(server, "role.deleted", admin.actor).details["before"]["name"] == role


@pytest.mark.parametrize("role", ["admin", "user-admin", "auditor"])
def test_the_console_roles_cannot_be_deleted_from_the_console(
    server: LiveServer, admin: Console, role: str
) -> None:
    page = admin.get(f"/admin/roles/{role}")
    assert page.status_code == 200 and "Delete role" not in page.text
    answer = admin.post(f"/admin/roles/{role}/delete")
    assert answer.status_code == 409
    assert "cannot be deleted" in answer.text
    assert server.call(lambda s: s.store.access.get_role(role)) is not None


def test_the_console_roles_cannot_be_deleted_through_the_admin_api(server: LiveServer) -> None:
    made = server.call(lambda s: bootstrap(s, unique("root"), "bootstrap " + unique("pw")))
    token = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"},
        auth=(made.client_id, made.client_secret),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for role in ("user-admin", "auditor"):
        answer = httpx.delete(f"{server.base_url}/admin/api/v1/roles/{role}", headers=headers)
        assert answer.status_code == 409, answer.text
        assert "cannot be deleted" in answer.json()["detail"]


def test_an_unknown_role_is_404(admin: Console) -> None:
    assert admin.get("/admin/roles/no-such-role").status_code == 404
    assert admin.post("/admin/roles/no-such-role", {"description": "x"}).status_code == 404
    assert admin.post("/admin/roles/no-such-role/delete").status_code == 404


# -- groups --------------------------------------------------------------------------------


def test_admin_creates_a_group_listed_and_audited(server: LiveServer, admin: Console) -> None:
    name = unique("team")
    answer = admin.post("/admin/groups", {"name": name, "external_id": "ext-1"})
    assert answer.status_code == 303, answer.text
    group = server.call(lambda s: s.store.access.get_group(name))
    assert group is not None and group.external_id == "ext-1"
    assert answer.headers["location"] == f"/admin/groups/{group.id}"
    listing = admin.get("/admin/groups", q=name)
    assert listing.status_code == 200 and f'href="/admin/groups/{group.id}"' in listing.text
    assert "No groups" in admin.get("/admin/groups", q=name + "-not").text
    assert last_event(server, "group.created", admin.actor).details["after"]["id"] == group.id


def test_an_empty_group_name_is_shown_next_to_the_field_with_the_input_kept(
    admin: Console,
) -> None:
    answer = admin.post("/admin/groups", {"name": "", "external_id": "kept-ext"})
    assert answer.status_code == 422
    assert invalid_field(answer.text, "name")
    assert 'value="kept-ext"' in answer.text


def test_admin_edits_a_group(server: LiveServer, admin: Console) -> None:
    group = make_group(server)
    renamed = unique("renamed")
    answer = admin.post(
        f"/admin/groups/{group.id}", {"name": renamed, "external_id": "", "require_mfa": "on"}
    )
    redirected_to(answer, f"/admin/groups/{group.id}")
    saved = server.call(lambda s: s.store.access.get_group(group.id))
    assert saved is not None and saved.name == renamed and saved.require_mfa
    event = last_event(server, "group.updated", admin.actor)
    assert event.details["after"]["name"] == renamed


def test_a_taken_group_name_is_409_next_to_the_name(server: LiveServer, admin: Console) -> None:
    group, other = make_group(server), make_group(server)
    answer = admin.post(f"/admin/groups/{group.id}", {"name": other.name})
    assert answer.status_code == 409
    assert "exists already" in invalid_field(answer.text, "name")
    assert f'value="{other.name}"' in answer.text


def test_admin_adds_and_removes_a_member(server: LiveServer, admin: Console) -> None:
    group = make_group(server)
    user_id, username = make_person(server)
    redirected_to(
        admin.post(f"/admin/groups/{group.id}/members", {"user": username}),
        f"/admin/groups/{group.id}",
    )
    assert member_ids(server, group.id) == [user_id]
    page = admin.get(f"/admin/groups/{group.id}")
    assert username in page.text and "added to the group" in page.text
    added = last_event(server, "group.member_added", admin.actor)
    assert added.user_id == user_id and added.details["group_id"] == group.id
    redirected_to(
        admin.post(f"/admin/groups/{group.id}/members/remove", {"user_id": user_id}),
        f"/admin/groups/{group.id}",
    )
    assert member_ids(server, group.id) == []
    assert last_event(server, "group.member_removed", admin.actor).user_id == user_id


def test_adding_an_unknown_member_is_shown_next_to_the_field(
    server: LiveServer, admin: Console
) -> None:
    group = make_group(server)
    answer = admin.post(f"/admin/groups/{group.id}/members", {"user": "nobody-by-that-name"})
    assert answer.status_code == 422
    assert "nobody-by-that-name" in invalid_field(answer.text, "user")
    assert 'value="nobody-by-that-name"' in answer.text


def test_admin_grants_and_revokes_a_role(server: LiveServer, admin: Console) -> None:
    group, role = make_group(server), make_role(server)
    redirected_to(
        admin.post(f"/admin/groups/{group.id}/roles", {"role": role}), f"/admin/groups/{group.id}"
    )
    assert server.call(lambda s: s.store.access.group_role_names(group.id)) == [role]
    assert last_event(server, "group.role_granted", admin.actor).details["role"] == role
    redirected_to(
        admin.post(f"/admin/groups/{group.id}/roles/revoke", {"role": role}),
        f"/admin/groups/{group.id}",
    )
    assert server.call(lambda s: s.store.access.group_role_names(group.id)) == []
    assert last_event(server, "group.role_revoked", admin.actor).details["role"] == role


def test_granting_a_role_that_does_not_exist_is_an_error_next_to_the_field(
    server: LiveServer, admin: Console
) -> None:
    group = make_group(server)
    answer = admin.post(f"/admin/groups/{group.id}/roles", {"role": "no-such-role"})
    assert answer.status_code == 422
    assert invalid_field(answer.text, "role")


def test_admin_nests_and_unnests_groups_and_a_cycle_is_refused(
    server: LiveServer, admin: Console
) -> None:
    child, parent = make_group(server), make_group(server)
    redirected_to(
        admin.post(f"/admin/groups/{child.id}/parents", {"parent": parent.name}),
        f"/admin/groups/{child.id}",
    )
    assert last_event(server, "group.nested", admin.actor).details["parent_id"] == parent.id
    parent_page = admin.get(f"/admin/groups/{parent.id}")
    assert f'href="/admin/groups/{child.id}"' in parent_page.text
    cycle = admin.post(f"/admin/groups/{parent.id}/parents", {"parent": child.id})
    assert cycle.status_code == 409
    assert "cycle" in invalid_field(cycle.text, "parent")
    redirected_to(
        admin.post(f"/admin/groups/{child.id}/parents/remove", {"parent_id": parent.id}),
        f"/admin/groups/{child.id}",
    )
    assert last_event(server, "group.unnested", admin.actor).details["parent_id"] == parent.id


def test_nesting_in_an_unknown_group_is_shown_next_to_the_field(
    server: LiveServer, admin: Console
) -> None:
    group = make_group(server)
    answer = admin.post(f"/admin/groups/{group.id}/parents", {"parent": "no-such-group"})
    assert answer.status_code == 422
    assert invalid_field(answer.text, "parent")


def test_admin_deletes_a_group(server: LiveServer, admin: Console) -> None:
    group = make_group(server)
    redirected_to(admin.post(f"/admin/groups/{group.id}/delete"), "/admin/groups")
    assert server.call(lambda s: s.store.access.get_group(group.id)) is None
    assert last_event(server, "group.deleted", admin.actor).details["before"]["id"] == group.id


def test_an_unknown_group_is_404(admin: Console) -> None:
    assert admin.get("/admin/groups/no-such-id").status_code == 404
    for action in ("", "/delete", "/members", "/roles", "/parents", "/members/remove"):
        assert admin.post(f"/admin/groups/no-such-id{action}", {"user": "x"}).status_code == 404


def test_removing_someone_who_is_not_a_member_is_404(server: LiveServer, admin: Console) -> None:
    group = make_group(server)
    answer = admin.post(f"/admin/groups/{group.id}/members/remove", {"user_id": "not-a-member"})
    assert answer.status_code == 404


# -- a user-admin and the console roles ----------------------------------------------------


def test_a_user_admin_manages_an_ordinary_group(server: LiveServer, user_admin: Console) -> None:
    name = unique("crew")
    assert user_admin.post("/admin/groups", {"name": name}).status_code == 303
    group = server.call(lambda s: s.store.access.get_group(name))
    assert group is not None
    user_id, username = make_person(server)
    answer = user_admin.post(f"/admin/groups/{group.id}/members", {"user": username})
    assert answer.status_code == 303
    assert last_event(server, "group.member_added", user_admin.actor).user_id == user_id
    role = make_role(server)
    page = user_admin.get(f"/admin/groups/{group.id}")
    # Only the roles a user-admin may grant are offered.
    assert f'<option value="{role}"' in page.text and '<option value="admin"' not in page.text
    assert user_admin.post(f"/admin/groups/{group.id}/roles", {"role": role}).status_code == 303


@pytest.mark.parametrize("role", ["admin", "user-admin", "auditor"])
def test_a_user_admin_cannot_grant_or_revoke_a_console_role(
    server: LiveServer, user_admin: Console, role: str
) -> None:
    group = make_group(server)
    answer = user_admin.post(f"/admin/groups/{group.id}/roles", {"role": role})
    assert answer.status_code == 403
    assert server.call(lambda s: s.store.access.group_role_names(group.id)) == []
    granted = make_group(server, roles=(role,))
    revoke = user_admin.post(f"/admin/groups/{granted.id}/roles/revoke", {"role": role})
    assert revoke.status_code == 403
    assert server.call(lambda s: s.store.access.group_role_names(granted.id)) == [role]


def test_a_user_admin_cannot_change_who_is_in_a_group_granting_a_console_role(
    server: LiveServer, user_admin: Console
) -> None:
    admins = make_group(server, roles=("admin",))
    nested = make_group(server)
    server.call(lambda s: s.store.access.nest(nested.id, admins.id))
    _, username = make_person(server)
    member_id, _ = make_person(server)
    server.call(lambda s: s.store.access.add_member(nested.id, member_id))
    # Directly, and through the group above.
    for group in (admins, nested):
        page = user_admin.get(f"/admin/groups/{group.id}")
        assert page.status_code == 200 and "Add member" not in page.text
        add = user_admin.post(f"/admin/groups/{group.id}/members", {"user": username})
        assert add.status_code == 403
        assert "Only an admin" in add.text
    assert member_ids(server, admins.id) == [] and member_ids(server, nested.id) == [member_id]
    remove = user_admin.post(f"/admin/groups/{nested.id}/members/remove", {"user_id": member_id})
    assert remove.status_code == 403
    assert member_ids(server, nested.id) == [member_id]
    for path, data in (
        (f"/admin/groups/{nested.id}", {"name": unique("x")}),
        (f"/admin/groups/{nested.id}/delete", {}),
        (f"/admin/groups/{nested.id}/parents/remove", {"parent_id": admins.id}),
    ):
        assert user_admin.post(path, data).status_code == 403, path
    # Nesting an ordinary group under it would hand its members the role.
    ordinary = make_group(server)
    answer = user_admin.post(f"/admin/groups/{ordinary.id}/parents", {"parent": admins.id})
    assert answer.status_code == 403


def test_an_admin_may_change_a_group_granting_a_console_role(
    server: LiveServer, admin: Console
) -> None:
    auditors = make_group(server, roles=("auditor",))
    user_id, username = make_person(server)
    answer = admin.post(f"/admin/groups/{auditors.id}/members", {"user": username})
    assert answer.status_code == 303
    assert member_ids(server, auditors.id) == [user_id]


# -- scopes --------------------------------------------------------------------------------


def test_admin_creates_a_gated_scope_with_a_slash_in_its_name(
    server: LiveServer, admin: Console
) -> None:
    role = make_role(server)
    name = unique("api") + "/read"
    answer = admin.post(
        "/admin/scopes", {"name": name, "description": "read it", "required_roles": [role]}
    )
    redirected_to(answer, "/admin/scopes/" + quote(name, safe=""))
    page = admin.get("/admin/scopes/" + quote(name, safe=""))
    assert page.status_code == 200 and "read it" in page.text and role in page.text
    listing = admin.get("/admin/scopes", q=name)
    assert name in listing.text
    event = last_event(server, "scope.created", admin.actor)
    assert event.details["after"] == {
        "name": name,
        "description": "read it",
        "required_roles": [role],
        "created_at": event.details["after"]["created_at"],
    }


def test_a_bad_scope_name_and_an_unknown_role_are_shown_next_to_their_fields(
    admin: Console,
) -> None:
    answer = admin.post("/admin/scopes", {"name": 'bad "scope"', "description": "kept"})
    assert answer.status_code == 422
    assert invalid_field(answer.text, "name")
    assert "kept" in answer.text and 'value="bad &#34;scope&#34;"' in answer.text
    unknown = admin.post("/admin/scopes", {"name": unique("s"), "required_roles": ["no-such"]})
    assert unknown.status_code == 422
    assert 'id="e-required_roles"' in unknown.text and "no-such" in unknown.text


def test_admin_edits_a_scope_and_the_change_is_audited(server: LiveServer, admin: Console) -> None:
    role = make_role(server)
    name = unique("scope")
    server.call(lambda s: s.store.access.create_scope(name, description="old"))
    answer = admin.post(
        f"/admin/scopes/{name}",
        {"action": "save", "description": "new", "required_roles": [role]},
    )
    redirected_to(answer, f"/admin/scopes/{name}")
    scope = server.call(lambda s: s.store.access.get_scope(name))
    assert scope is not None and scope.description == "new" and scope.required_roles == (role,)
    event = last_event(server, "scope.updated", admin.actor)
    assert event.details["before"]["required_roles"] == [] and event.details["after"][
        "required_roles"
    ] == [role]


def test_the_admin_scope_cannot_be_opened(server: LiveServer, admin: Console) -> None:
    answer = admin.post(f"/admin/scopes/{ADMIN_SCOPE}", {"action": "save", "description": "x"})
    assert answer.status_code == 409
    assert "must stay gated" in answer.text
    scope = server.call(lambda s: s.store.access.get_scope(ADMIN_SCOPE))
    assert scope is not None and scope.required_roles == ("admin",)


def test_admin_deletes_an_open_scope_but_not_a_gated_one(
    server: LiveServer, admin: Console
) -> None:
    role = make_role(server)
    open_scope, gated = unique("open"), unique("gated")

    async def create(services: Services) -> None:
        await services.store.access.create_scope(open_scope, description="")
        await services.store.access.create_scope(gated, description="", required_roles=[role])

    server.call(create)
    redirected_to(admin.post(f"/admin/scopes/{open_scope}", {"action": "delete"}), "/admin/scopes")
    assert server.call(lambda s: s.store.access.get_scope(open_scope)) is None
    assert last_event(server, "scope.deleted", admin.actor).details["before"]["name"] == open_scope
    refused = admin.post(f"/admin/scopes/{gated}", {"action": "delete"})
    assert refused.status_code == 409 and "required_roles first" in refused.text
    assert server.call(lambda s: s.store.access.get_scope(gated)) is not None


def test_an_unknown_scope_is_404(admin: Console) -> None:
    assert admin.get("/admin/scopes/no/such/scope").status_code == 404
    assert admin.post("/admin/scopes/no-such", {"action": "save"}).status_code == 404
    assert admin.post("/admin/scopes/no-such", {"action": "delete"}).status_code == 404


# -- each role's reach, and CSRF -----------------------------------------------------------


def _writes(server: LiveServer) -> list[tuple[str, dict[str, Any]]]:
    """One POST of each kind on roles and scopes, against things that exist."""
    role = make_role(server)
    scope = unique("scope")
    server.call(lambda s: s.store.access.create_scope(scope, description=""))
    return [
        ("/admin/roles", {"name": unique("r")}),
        (f"/admin/roles/{role}", {"description": "x"}),
        (f"/admin/roles/{role}/delete", {}),
        ("/admin/scopes", {"name": unique("s")}),
        (f"/admin/scopes/{scope}", {"action": "save", "description": "x"}),
        (f"/admin/scopes/{scope}", {"action": "delete"}),
    ]


def test_a_user_admin_reads_roles_and_scopes_but_cannot_change_them_nor_see_audit(
    server: LiveServer, user_admin: Console
) -> None:
    for path in ("/admin/roles", "/admin/roles/admin", "/admin/scopes", "/admin/groups"):
        page = user_admin.get(path)
        assert page.status_code == 200, path
    assert 'method="post" action="/admin/roles"' not in user_admin.get("/admin/roles").text
    assert "Save scope" not in user_admin.get(f"/admin/scopes/{ADMIN_SCOPE}").text
    for path, data in _writes(server):
        assert user_admin.post(path, data).status_code == 403, path
    assert user_admin.get("/admin/audit").status_code == 403
    assert user_admin.get("/admin/audit/export.jsonl").status_code == 403


def test_an_auditor_reads_everything_here_but_every_post_is_refused(
    server: LiveServer, auditor: Console
) -> None:
    group = make_group(server)
    _, username = make_person(server)
    for path in (
        "/admin/roles",
        "/admin/roles/admin",
        "/admin/groups",
        f"/admin/groups/{group.id}",
        "/admin/scopes",
        f"/admin/scopes/{ADMIN_SCOPE}",
        "/admin/audit",
    ):
        page = auditor.get(path)
        assert page.status_code == 200, path
        # The sign-out form is the only one that posts.
        assert page.text.count('method="post"') == 1, path
    writes = [
        *_writes(server),
        ("/admin/groups", {"name": unique("g")}),
        (f"/admin/groups/{group.id}", {"name": unique("g")}),
        (f"/admin/groups/{group.id}/members", {"user": username}),
        (f"/admin/groups/{group.id}/delete", {}),
    ]
    for path, data in writes:
        assert auditor.post(path, data).status_code == 403, path
    assert member_ids(server, group.id) == []


def test_a_form_without_its_csrf_token_is_refused(server: LiveServer, admin: Console) -> None:
    group = make_group(server)
    _, username = make_person(server)
    for path, data in (
        ("/admin/roles", {"name": unique("r")}),
        ("/admin/groups", {"name": unique("g")}),
        (f"/admin/groups/{group.id}/members", {"user": username}),
        ("/admin/scopes", {"name": unique("s")}),
    ):
        answer = admin.post(path, data, csrf=False)
        assert answer.status_code == 403, path
        assert "expired" in answer.text
    assert member_ids(server, group.id) == []


@pytest.mark.parametrize(
    "path",
    [
        "/admin/roles/bad%00name",
        "/admin/groups/bad%00id",
        "/admin/scopes/bad%00scope",
        "/admin/groups/{group}?members_after=%00",
        "/admin/roles?cursor=%00",
        "/admin/groups?cursor=%00",
        "/admin/scopes?cursor=%00",
        "/admin/groups?q=%00",
    ],
)
def test_text_no_database_can_hold_is_a_404_or_400_never_a_500(
    server: LiveServer, admin: Console, path: str
) -> None:
    group = make_group(server)
    assert admin.web.get(path.format(group=group.id)).status_code in (400, 404)
    for post in ("/admin/roles/x%00/delete", "/admin/groups/x%00/delete", "/admin/scopes/x%00"):
        assert admin.post(post, {"action": "delete"}).status_code in (400, 404)


def test_a_big_groups_members_come_a_page_at_a_time(server: LiveServer, admin: Console) -> None:
    group = make_group(server)
    prefix = unique("crowd")

    async def crowd(services: Services) -> None:
        hashed = await services.passwords.hash(PASSWORD)
        for n in range(105):
            user = await services.store.users.add(
                username=f"{prefix}-{n:03d}",
                email=f"{prefix}-{n:03d}@example.com",
                password_hash=hashed,
            )
            await services.store.access.add_member(group.id, user.id)

    server.call(crowd)
    first = admin.get(f"/admin/groups/{group.id}")
    names = re.findall(rf">({prefix}-\d+)</a>", first.text)
    assert names == [f"{prefix}-{n:03d}" for n in range(100)]
    more = re.search(r'<p class="pager"><a href="([^"]+)">More members', first.text)
    assert more
    rest = admin.web.get(more.group(1).replace("&amp;", "&"))
    assert re.findall(rf">({prefix}-\d+)</a>", rest.text) == [
        f"{prefix}-{n:03d}" for n in range(100, 105)
    ]
    assert "More members" not in rest.text
