"""Console pages: scopes — the list, a scope's description and the roles that gate it,
create and delete. Written by an admin only; a user-admin and an auditor read them.

A scope name may hold '/', so a scope's page takes the rest of the path, and its two
changes (save, delete) post to that one address with the ``action`` field saying which.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.access_schemas import ScopeCreate, ScopePatch
from ostiary.admin.console import render
from ostiary.admin.console.access_forms import name_page
from ostiary.admin.console.forms import FORM, Errors, field_errors, form_of
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area
from ostiary.admin.operations import scopes as ops
from ostiary.admin.problems import Problem

PAGE_SIZE = 50


@console_page(Area.SCOPES)
async def list_scopes(request: Request, viewer: Viewer) -> Response:
    return await _list_page(request, viewer)


@console_page(Area.SCOPES)
async def create_scope(request: Request, viewer: Viewer) -> Response:
    form = await form_of(request)
    values = {
        "name": form.text("name"),
        "description": form.get("description") or "",
        "required_roles": form.getlist("required_roles"),
    }
    try:
        body = ScopeCreate.model_validate(values)
        scope = await ops.create_scope(services_of(request), viewer.caller, body)
    except ValidationError as exc:
        return await _list_page(request, viewer, field_errors(exc), values)
    except Problem as problem:
        field = {409: "name", 422: "required_roles"}.get(problem.status, FORM)
        return await _list_page(request, viewer, {field: problem.detail}, values, problem.status)
    return render.redirect(request, _path(scope.name), f"Scope {scope.name} created.")


@console_page(Area.SCOPES)
async def show_scope(request: Request, viewer: Viewer) -> Response:
    return await _scope_page(request, viewer, request.path_params["name"])


@console_page(Area.SCOPES)
async def change_scope(request: Request, viewer: Viewer) -> Response:
    name = request.path_params["name"]
    services = services_of(request)
    form = await form_of(request)
    if form.get("action") == "delete":
        # A gated scope is refused (409): the guard shows the operation's reason.
        await ops.delete_scope(services, viewer.caller, name)
        return render.redirect(request, "/admin/scopes", f"Scope {name} deleted.")
    values = {
        "description": form.get("description") or "",
        "required_roles": form.getlist("required_roles"),
    }
    try:
        body = ScopePatch.model_validate(values)
        await ops.update_scope(services, viewer.caller, name, body)
    except ValidationError as exc:
        return await _scope_page(request, viewer, name, field_errors(exc), values)
    except Problem as problem:
        if problem.status == 404:
            raise
        errors = {"required_roles": problem.detail}
        return await _scope_page(request, viewer, name, errors, values, problem.status)
    return render.redirect(request, _path(name), "Scope saved.")


async def _list_page(
    request: Request,
    viewer: Viewer,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 422,
) -> Response:
    services = services_of(request)
    listed = await name_page(request, "scopes")
    rows = listed.rows
    scopes = await ops.listed(services, rows)
    return render.page(
        request,
        viewer,
        "scopes.html",
        area=Area.SCOPES,
        status=status if errors else 200,
        scopes=scopes,
        next_url=listed.next_url,
        q=listed.q,
        all_roles=[r.name for r in await services.store.access.list_roles()],
        errors=errors or {},
        values=values or {"required_roles": []},
    )


async def _scope_page(
    request: Request,
    viewer: Viewer,
    name: str,
    errors: Errors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 422,
) -> Response:
    services = services_of(request)
    scope = ops.scope_view(await ops.scope_or_404(services, name))
    return render.page(
        request,
        viewer,
        "scope.html",
        area=Area.SCOPES,
        status=status if errors else 200,
        scope=scope,
        admin_scope=scope.name in ops.ADMIN_SCOPES,
        all_roles=[r.name for r in await services.store.access.list_roles()],
        errors=errors or {},
        values=values if values is not None else scope.model_dump(),
    )


def _path(name: str) -> str:
    return "/admin/scopes/" + quote(name, safe="")


routes: list[BaseRoute] = [
    Route("/scopes", list_scopes, methods=["GET"]),
    Route("/scopes", create_scope, methods=["POST"]),
    Route("/scopes/{name:path}", show_scope, methods=["GET"]),
    Route("/scopes/{name:path}", change_scope, methods=["POST"]),
]
