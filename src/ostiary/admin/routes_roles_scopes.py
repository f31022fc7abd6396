"""/roles and /scopes: the RBAC vocabulary and which roles gate which scopes.

A scope with required roles is granted only to users holding one of them; a scope that
is not registered, or has none, is open to every user. So removing a gate must be an
explicit change of ``required_roles``: deleting a role that gates a scope, or a gated
scope, is refused (409) rather than silently opening the scope to everyone.
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
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE
from ostiary.admin.problems import conflict, documented, not_found, unprocessable
from ostiary.admin.resources import RolePath, created, new, record, role_or_404, updated
from ostiary.admin.schemas import Page
from ostiary.domain.access import AccessError, Role, Scope
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries

router = APIRouter(tags=["roles and scopes"])
ScopePath = Annotated[str, Path(max_length=200, description="The scope (may contain '/').")]
_ADMIN_SCOPES = {ADMIN_SCOPE, ADMIN_READ_SCOPE}


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
    creation = services.store.access.create_role(
        body.name, body.description, require_mfa=body.require_mfa
    )
    role = await new(creation, f"role {body.name!r}")
    out = _role_view(role)
    await created(
        services, caller, request, response, "role.created", out.model_dump(), "roles", role.name
    )
    return out


@router.get("/roles/{name}", response_model=RoleOut, responses=documented(404))
async def get_role(name: RolePath, services: ServicesDep) -> RoleOut:
    return _role_view(await role_or_404(services, name))


@router.patch("/roles/{name}", response_model=RoleOut, responses=documented(404))
async def update_role(
    name: RolePath, body: RolePatch, services: ServicesDep, caller: CallerDep
) -> RoleOut:
    """Change the description or the MFA policy of the role."""
    before = _role_view(await role_or_404(services, name))
    role = await services.store.access.update_role(
        name, description=body.description, require_mfa=body.require_mfa
    )
    if role is None:  # deleted meanwhile
        raise not_found(f"role {name!r}")
    after = _role_view(role)
    if after != before:
        await updated(services, caller, "role.updated", before.model_dump(), after.model_dump())
    return after


@router.delete("/roles/{name}", status_code=204, responses=documented(404, 409))
async def delete_role(name: RolePath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete a role; users and groups lose it. Refused while it gates a scope."""
    role = await role_or_404(services, name)
    try:
        await services.store.access.delete_role(name)
    except AccessError as exc:
        # Fail closed: without its role a scope would be open to every user.
        raise conflict(f"{exc} (PATCH their required_roles)") from None
    before = _role_view(role)
    await record(services, caller, "role.deleted", details={"before": before.model_dump()})
    return Response(status_code=204)


@router.get("/scopes", response_model=Page[ScopeOut])
async def list_scopes(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[ScopeOut]:
    rows, next_cursor = await paging.rows(services, "scopes", "name", cursor=cursor, limit=limit)
    required = await queries.scope_requirements(services.engine, [r.name for r in rows])
    items = [
        ScopeOut(
            name=r.name,
            description=r.description,
            required_roles=required.get(r.name, []),
            created_at=r.created_at,
        )
        for r in rows
    ]
    return Page[ScopeOut](items=items, next_cursor=next_cursor)


@router.post("/scopes", status_code=201, response_model=ScopeOut, responses=documented(409))
async def create_scope(
    body: ScopeCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ScopeOut:
    access = services.store.access
    if await access.get_scope(body.name) is not None:
        raise conflict(f"scope {body.name!r} exists already")
    await _require_roles(services, body.required_roles)
    creation = access.create_scope(
        body.name, description=body.description, required_roles=body.required_roles
    )
    scope = await new(creation, f"scope {body.name!r}")
    out = _scope_view(scope)
    await created(
        services, caller, request, response, "scope.created", out.model_dump(), "scopes", scope.name
    )
    return out


@router.get("/scopes/{name:path}", response_model=ScopeOut, responses=documented(404))
async def get_scope(name: ScopePath, services: ServicesDep) -> ScopeOut:
    return _scope_view(await _scope_or_404(services, name))


@router.patch("/scopes/{name:path}", response_model=ScopeOut, responses=documented(404, 409))
async def update_scope(
    name: ScopePath, body: ScopePatch, services: ServicesDep, caller: CallerDep
) -> ScopeOut:
    """Change the description or the roles that gate the scope (an empty list opens it)."""
    before = _scope_view(await _scope_or_404(services, name))
    if body.required_roles is not None:
        if name in _ADMIN_SCOPES and not body.required_roles:
            raise conflict(f"{name} must stay gated by a role")
        await _require_roles(services, body.required_roles)
        await services.store.access.set_scope_roles(name, body.required_roles)
    if body.description is not None:
        await queries.set_scope_description(services.engine, name, body.description)
    after = _scope_view(await _scope_or_404(services, name))
    if after != before:
        await updated(services, caller, "scope.updated", before.model_dump(), after.model_dump())
    return after


@router.delete("/scopes/{name:path}", status_code=204, responses=documented(404, 409))
async def delete_scope(name: ScopePath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete an open scope. A gated one is refused: unregistered scopes are open to all."""
    before = _scope_view(await _scope_or_404(services, name))
    if before.required_roles:
        raise conflict(
            f"scope {name!r} is gated by {', '.join(before.required_roles)}; clear its "
            "required_roles first, or it would open to every user"
        )
    await services.store.access.delete_scope(name)
    await record(services, caller, "scope.deleted", details={"before": before.model_dump()})
    return Response(status_code=204)


async def _scope_or_404(services: Services, name: str) -> Scope:
    scope = await services.store.access.get_scope(name)
    if scope is None:
        raise not_found(f"scope {name!r}")
    return scope


async def _require_roles(services: Services, names: list[str]) -> None:
    for role in names:
        if await services.store.access.get_role(role) is None:
            raise unprocessable(f"role {role!r} does not exist")


def _role_view(role: Role) -> RoleOut:
    return RoleOut.model_validate(role, from_attributes=True)


def _scope_view(scope: Scope) -> ScopeOut:
    return ScopeOut(
        name=scope.name,
        description=scope.description,
        required_roles=list(scope.required_roles),
        created_at=scope.created_at,
    )
