"""Console pages: roles — the list, a role's description, MFA policy and holders, create
and delete. Roles are written by an admin only; a user-admin and an auditor read them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.access_schemas import RoleCreate, RoleOut, RolePatch
from ostiary.admin.console import render
from ostiary.admin.console.access_forms import name_page
from ostiary.admin.console.forms import FORM, Errors, field_errors, form_of
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import CONSOLE_ROLES, Area
from ostiary.admin.operations import roles as ops
from ostiary.admin.problems import Problem
from ostiary.admin.resources import role_or_404
from ostiary.storage.queries import access_pages

PAGE_SIZE = 50
HOLDERS_SHOWN = 100


@console_page(Area.ROLES)
async def list_roles(request: Request, viewer: Viewer) -> Response:
    return await _list_page(request, viewer)


@console_page(Area.ROLES)
async def create_role(request: Request, viewer: Viewer) -> Response:
    form = await form_of(request)
    values = {
        "name": form.text("name"),
        "description": form.get("description") or "",
        "require_mfa": "require_mfa" in form,
    }
    try:
        body = RoleCreate.model_validate(values)
        role = await ops.create_role(services_of(request), viewer.caller, body)
    except ValidationError as exc:
        return await _list_page(request, viewer, field_errors(exc), values)
    except Problem as problem:
        errors = {"name" if problem.status == 409 else FORM: problem.detail}
        return await _list_page(request, viewer, errors, values, problem.status)
    return render.redirect(request, _path(role.name), f"Role {role.name} created.")


@console_page(Area.ROLES)
async def show_role(request: Request, viewer: Viewer) -> Response:
    return await _role_page(request, viewer, request.path_params["name"])


@console_page(Area.ROLES)
async def update_role(request: Request, viewer: Viewer) -> Response:
    name = request.path_params["name"]
    form = await form_of(request)
    values = {"description": form.get("description") or "", "require_mfa": "require_mfa" in form}
    try:
        body = RolePatch.model_validate(values)
        await ops.update_role(services_of(request), viewer.caller, name, body)
    except ValidationError as exc:
        return await _role_page(request, viewer, name, field_errors(exc), values)
    return render.redirect(request, _path(name), "Role saved.")


@console_page(Area.ROLES)
async def delete_role(request: Request, viewer: Viewer) -> Response:
    name = request.path_params["name"]
    # A refusal (a console role, a role gating scopes) is a Problem: the guard's message page.
    await ops.delete_role(services_of(request), viewer.caller, name)
    return render.redirect(request, "/admin/roles", f"Role {name} deleted.")


async def _list_page(
    request: Request,
    viewer: Viewer,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 422,
) -> Response:
    listed = await name_page(request, "roles")
    roles = [RoleOut.model_validate(r, from_attributes=True) for r in listed.rows]
    return render.page(
        request,
        viewer,
        "roles.html",
        area=Area.ROLES,
        status=status if errors else 200,
        roles=roles,
        next_url=listed.next_url,
        q=listed.q,
        console_roles=CONSOLE_ROLES,
        errors=errors or {},
        values=values or {},
    )


async def _role_page(
    request: Request,
    viewer: Viewer,
    name: str,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    services = services_of(request)
    role = ops.role_view(await role_or_404(services, name))
    holders, more = await access_pages.role_holders(services.engine, name, limit=HOLDERS_SHOWN)
    return render.page(
        request,
        viewer,
        "role.html",
        area=Area.ROLES,
        status=422 if errors else 200,
        role=role,
        holders=holders,
        more_holders=more,
        groups=await access_pages.groups_granting(services.engine, name),
        scopes=await access_pages.scopes_gated_by(services.engine, name),
        console_role=name in CONSOLE_ROLES,
        errors=errors or {},
        values=values if values is not None else role.model_dump(),
    )


def _path(name: str) -> str:
    return "/admin/roles/" + quote(name, safe="")


routes: list[BaseRoute] = [
    Route("/roles", list_roles, methods=["GET"]),
    Route("/roles", create_role, methods=["POST"]),
    Route("/roles/{name}", show_role, methods=["GET"]),
    Route("/roles/{name}", update_role, methods=["POST"]),
    Route("/roles/{name}/delete", delete_role, methods=["POST"]),
]
