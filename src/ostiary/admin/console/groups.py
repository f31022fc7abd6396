"""Console pages: groups — the list, a group's name, nesting, roles, members and MFA
policy, create and delete.

A user-admin manages groups but never a console role: granting or revoking one, and any
change to a group that grants one (directly or through a group above it), needs an admin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.access_schemas import GroupCreate, GroupPatch
from ostiary.admin.bootstrap import ADMIN_ROLE
from ostiary.admin.console import render
from ostiary.admin.console.access_forms import carried_roles, check_group_change, name_page
from ostiary.admin.console.forms import FORM, Errors, field_errors, form_of
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import CONSOLE_ROLES, Area, check_privileged
from ostiary.admin.operations import groups as ops
from ostiary.admin.problems import Problem
from ostiary.admin.resources import group_or_404
from ostiary.domain.access import Group
from ostiary.storage.queries import access_pages

PAGE_SIZE = 50
MEMBERS_SHOWN = 100


@console_page(Area.GROUPS)
async def list_groups(request: Request, viewer: Viewer) -> Response:
    return await _list_page(request, viewer)


@console_page(Area.GROUPS)
async def create_group(request: Request, viewer: Viewer) -> Response:
    form = await form_of(request)
    values = {
        "name": form.text("name"),
        "external_id": form.text("external_id") or None,
        "require_mfa": "require_mfa" in form,
    }
    try:
        body = GroupCreate.model_validate(values)
        group = await ops.create_group(services_of(request), viewer.caller, body)
    except ValidationError as exc:
        return await _list_page(request, viewer, field_errors(exc), values)
    except Problem as problem:
        errors = {"name" if problem.status == 409 else FORM: problem.detail}
        return await _list_page(request, viewer, errors, values, problem.status)
    return render.redirect(request, _path(group.id), f"Group {group.name} created.")


@console_page(Area.GROUPS)
async def show_group(request: Request, viewer: Viewer) -> Response:
    return await _group_page(request, viewer, await _group(request))


@console_page(Area.GROUPS)
async def update_group(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    await check_group_change(services, viewer.roles, group.id)
    form = await form_of(request)
    values = {
        "name": form.text("name"),
        "external_id": form.text("external_id") or None,
        "require_mfa": "require_mfa" in form,
    }
    try:
        body = GroupPatch.model_validate(values)
        await ops.update_group(services, viewer.caller, group.id, body)
    except ValidationError as exc:
        return await _group_page(request, viewer, group, field_errors(exc), values)
    except Problem as problem:
        errors = {"name" if problem.status == 409 else FORM: problem.detail}
        return await _group_page(request, viewer, group, errors, values, problem.status)
    return render.redirect(request, _path(group.id), "Group saved.")


@console_page(Area.GROUPS)
async def delete_group(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    await check_group_change(services, viewer.roles, group.id)
    await ops.delete_group(services, viewer.caller, group.id)
    return render.redirect(request, "/admin/groups", f"Group {group.name} deleted.")


@console_page(Area.GROUPS)
async def add_member(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    await check_group_change(services, viewer.roles, group.id)
    form = await form_of(request)
    key = form.text("user")
    user = await services.store.users.find(key) if key else None
    if user is None:
        message = "Give a username or user id." if not key else f"No user is named {key!r}."
        return await _group_page(request, viewer, group, {"user": message}, {"user": key})
    added = await ops.add_member(services, viewer.caller, group.id, user.id)
    said = "added to the group" if added else "was a member already"
    return render.redirect(request, _path(group.id), f"{user.username} {said}.")


@console_page(Area.GROUPS)
async def remove_member(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    await check_group_change(services, viewer.roles, group.id)
    user_id = (await form_of(request)).text("user_id")
    await ops.remove_member(services, viewer.caller, group.id, user_id)
    return render.redirect(request, _path(group.id), "Member removed from the group.")


@console_page(Area.GROUPS)
async def grant_role(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    role = (await form_of(request)).text("role")
    check_privileged(viewer.roles, [role])
    await check_group_change(services, viewer.roles, group.id)
    if not role or await services.store.access.get_role(role) is None:
        errors = {"role": "Choose a role that exists."}
        return await _group_page(request, viewer, group, errors, {"role": role})
    await ops.grant_role(services, viewer.caller, group.id, role)
    return render.redirect(request, _path(group.id), f"Role {role} granted to the group.")


@console_page(Area.GROUPS)
async def revoke_role(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    role = (await form_of(request)).text("role")
    check_privileged(viewer.roles, [role])
    await check_group_change(services, viewer.roles, group.id)
    await ops.revoke_role(services, viewer.caller, group.id, role)
    return render.redirect(request, _path(group.id), f"Role {role} no longer granted.")


@console_page(Area.GROUPS)
async def nest(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    key = (await form_of(request)).text("parent")
    parent = await services.store.access.get_group(key) if key else None
    if parent is None:
        message = "Give a group's name or id." if not key else f"No group is named {key!r}."
        return await _group_page(request, viewer, group, {"parent": message}, {"parent": key})
    # Nesting hands the parent's roles to this group's members.
    await check_group_change(services, viewer.roles, group.id, parent.id)
    try:
        await ops.nest(services, viewer.caller, group.id, parent.id)
    except Problem as problem:
        errors = {"parent": problem.detail}
        return await _group_page(request, viewer, group, errors, {"parent": key}, problem.status)
    return render.redirect(request, _path(group.id), f"Nested in {parent.name}.")


@console_page(Area.GROUPS)
async def unnest(request: Request, viewer: Viewer) -> Response:
    services, group = services_of(request), await _group(request)
    await check_group_change(services, viewer.roles, group.id)
    parent_id = (await form_of(request)).text("parent_id")
    await ops.unnest(services, viewer.caller, group.id, parent_id)
    return render.redirect(request, _path(group.id), "No longer nested in that group.")


async def _group(request: Request) -> Group:
    return await group_or_404(services_of(request), request.path_params["group_id"])


async def _list_page(
    request: Request,
    viewer: Viewer,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 422,
) -> Response:
    listed = await name_page(request, "groups")
    return render.page(
        request,
        viewer,
        "groups.html",
        area=Area.GROUPS,
        status=status if errors else 200,
        groups=[ops.group_view(Group(**r._mapping)) for r in listed.rows],
        next_url=listed.next_url,
        q=listed.q,
        errors=errors or {},
        values=values or {},
    )


async def _group_page(
    request: Request,
    viewer: Viewer,
    group: Group,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 422,
) -> Response:
    services = services_of(request)
    detail = await ops.group_detail(services, group.id)
    after = request.query_params.get("members_after")
    members, more = await access_pages.members_page(
        services.engine, group.id, after=after, limit=MEMBERS_SHOWN
    )
    more_url = None
    if more:
        last = quote(members[-1][1], safe="")
        more_url = f"{render.base_path(request)}{_path(group.id)}?members_after={last}"
    carried = await carried_roles(services, group.id)
    shown = detail.model_dump()
    return render.page(
        request,
        viewer,
        "group.html",
        area=Area.GROUPS,
        status=status if errors else 200,
        group=detail,
        parents=await access_pages.groups_by_id(services.engine, detail.parents),
        children=await access_pages.groups_by_id(services.engine, detail.children),
        members=members,
        more_url=more_url,
        grantable=[
            r.name
            for r in await services.store.access.list_roles()
            if r.name not in detail.roles and _may_grant(viewer, r.name)
        ],
        console_roles=CONSOLE_ROLES,
        privileged=sorted(set(CONSOLE_ROLES) & carried),
        inherited=sorted(carried - set(detail.roles)),
        errors=errors or {},
        values={**shown, **(values or {})},
    )


def _may_grant(viewer: Viewer, role: str) -> bool:
    return role not in CONSOLE_ROLES or ADMIN_ROLE in viewer.roles


def _path(group_id: str) -> str:
    return "/admin/groups/" + quote(group_id, safe="")


routes: list[BaseRoute] = [
    Route("/groups", list_groups, methods=["GET"]),
    Route("/groups", create_group, methods=["POST"]),
    Route("/groups/{group_id}", show_group, methods=["GET"]),
    Route("/groups/{group_id}", update_group, methods=["POST"]),
    Route("/groups/{group_id}/delete", delete_group, methods=["POST"]),
    Route("/groups/{group_id}/members", add_member, methods=["POST"]),
    Route("/groups/{group_id}/members/remove", remove_member, methods=["POST"]),
    Route("/groups/{group_id}/roles", grant_role, methods=["POST"]),
    Route("/groups/{group_id}/roles/revoke", revoke_role, methods=["POST"]),
    Route("/groups/{group_id}/parents", nest, methods=["POST"]),
    Route("/groups/{group_id}/parents/remove", unnest, methods=["POST"]),
]
