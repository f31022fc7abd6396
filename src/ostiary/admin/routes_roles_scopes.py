"""/roles and /scopes: the RBAC vocabulary and which roles gate which scopes.

The rules (a gated scope or a gating role cannot simply go; the console's roles cannot
go at all) live in ``admin.operations``, shared with the console.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from ostiary.admin import paging
from ostiary.admin.access_schemas import (
    RoleCreate,
    RoleOut,
    RolePatch,
    ScopeCreate,
    ScopeOut,
    ScopePatch,
)
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.operations import roles as role_ops
from ostiary.admin.operations import scopes as scope_ops
from ostiary.admin.problems import documented
from ostiary.admin.resources import RolePath, location, role_or_404
from ostiary.admin.schemas import Page

router = APIRouter(tags=["roles and scopes"])
ScopePath = Annotated[str, Path(max_length=200, description="The scope (may contain '/').")]


@router.get("/roles", response_model=Page[RoleOut])
async def list_roles(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[RoleOut]:
    rows, next_cursor = await paging.rows(services, "roles", "name", cursor=cursor, limit=limit)
    items = [RoleOut.model_validate(r, from_attributes=True) for r in rows]
    return Page[RoleOut](items=items, next_cursor=next_cursor)


@router.post("/roles", status_code=201, response_model=RoleOut, responses=documented(409))
async def create_role(
    body: RoleCreate, services: ServicesDep, caller: CallerDep, request: Request, response: Response
) -> RoleOut:
    out = await role_ops.create_role(services, caller, body)
    response.headers["Location"] = location(request, "roles", out.name)
    return out


@router.get("/roles/{name}", response_model=RoleOut, responses=documented(404))
async def get_role(name: RolePath, services: ServicesDep) -> RoleOut:
    return role_ops.role_view(await role_or_404(services, name))


@router.patch("/roles/{name}", response_model=RoleOut, responses=documented(404))
async def update_role(
    name: RolePath, body: RolePatch, services: ServicesDep, caller: CallerDep
) -> RoleOut:
    """Change the description or the MFA policy of the role."""
    return await role_ops.update_role(services, caller, name, body)


@router.delete("/roles/{name}", status_code=204, responses=documented(404, 409))
async def delete_role(name: RolePath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete a role; users and groups lose it. Refused while it gates a scope, and for
    the console's roles (admin, user-admin, auditor)."""
    await role_ops.delete_role(services, caller, name)
    return Response(status_code=204)


@router.get("/scopes", response_model=Page[ScopeOut])
async def list_scopes(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[ScopeOut]:
    rows, next_cursor = await paging.rows(services, "scopes", "name", cursor=cursor, limit=limit)
    return Page[ScopeOut](items=await scope_ops.listed(services, rows), next_cursor=next_cursor)


@router.post("/scopes", status_code=201, response_model=ScopeOut, responses=documented(409))
async def create_scope(
    body: ScopeCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ScopeOut:
    out = await scope_ops.create_scope(services, caller, body)
    response.headers["Location"] = location(request, "scopes", out.name)
    return out


@router.get("/scopes/{name:path}", response_model=ScopeOut, responses=documented(404))
async def get_scope(name: ScopePath, services: ServicesDep) -> ScopeOut:
    return scope_ops.scope_view(await scope_ops.scope_or_404(services, name))


@router.patch("/scopes/{name:path}", response_model=ScopeOut, responses=documented(404, 409))
async def update_scope(
    name: ScopePath, body: ScopePatch, services: ServicesDep, caller: CallerDep
) -> ScopeOut:
    """Change the description or the roles that gate the scope (an empty list opens it)."""
    return await scope_ops.update_scope(services, caller, name, body)


@router.delete("/scopes/{name:path}", status_code=204, responses=documented(404, 409))
async def delete_scope(name: ScopePath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete an open scope. A gated one is refused: unregistered scopes are open to all."""
    await scope_ops.delete_scope(services, caller, name)
    return Response(status_code=204)
