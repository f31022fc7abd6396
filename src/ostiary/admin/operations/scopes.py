"""Scopes and the roles that gate them.

A scope with required roles is granted only to users holding one of them; a scope that
is not registered, or has none, is open to every user. So removing a gate must be an
explicit change of ``required_roles``: deleting a gated scope is refused (409) rather
than silently opening it to everyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ostiary.admin.access_schemas import ScopeCreate, ScopeOut, ScopePatch
from ostiary.admin.auth import Caller
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE
from ostiary.admin.problems import conflict, not_found, unprocessable
from ostiary.admin.resources import new, record, updated
from ostiary.domain.access import Scope
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries

# The admin API's own scopes: opening them would hand it to every user.
ADMIN_SCOPES = frozenset({ADMIN_SCOPE, ADMIN_READ_SCOPE})


def scope_view(scope: Scope) -> ScopeOut:
    return ScopeOut(
        name=scope.name,
        description=scope.description,
        required_roles=list(scope.required_roles),
        created_at=scope.created_at,
    )


async def listed(services: Services, rows: Sequence[Any]) -> list[ScopeOut]:
    """A page of scope rows as the API and the console show them, with their gates."""
    required = await queries.scope_requirements(services.engine, [r.name for r in rows])
    return [
        ScopeOut(
            name=r.name,
            description=r.description,
            required_roles=required.get(r.name, []),
            created_at=r.created_at,
        )
        for r in rows
    ]


async def scope_or_404(services: Services, name: str) -> Scope:
    scope = await services.store.access.get_scope(name)
    if scope is None:
        raise not_found(f"scope {name!r}")
    return scope


async def create_scope(services: Services, caller: Caller, body: ScopeCreate) -> ScopeOut:
    """Register a scope (409 if it exists, 422 naming a role that does not)."""
    access = services.store.access
    if await access.get_scope(body.name) is not None:
        raise conflict(f"scope {body.name!r} exists already")
    await require_roles(services, body.required_roles)
    creation = access.create_scope(
        body.name, description=body.description, required_roles=body.required_roles
    )
    out = scope_view(await new(creation, f"scope {body.name!r}"))
    await record(services, caller, "scope.created", details={"after": out.model_dump()})
    return out


async def update_scope(services: Services, caller: Caller, name: str, body: ScopePatch) -> ScopeOut:
    """Change the description or the roles that gate the scope (an empty list opens it)."""
    before = scope_view(await scope_or_404(services, name))
    if body.required_roles is not None:
        if name in ADMIN_SCOPES and not body.required_roles:
            raise conflict(f"{name} must stay gated by a role")
        await require_roles(services, body.required_roles)
        await services.store.access.set_scope_roles(name, body.required_roles)
    if body.description is not None:
        await queries.set_scope_description(services.engine, name, body.description)
    after = scope_view(await scope_or_404(services, name))
    if after != before:
        await updated(services, caller, "scope.updated", before.model_dump(), after.model_dump())
    return after


async def delete_scope(services: Services, caller: Caller, name: str) -> None:
    """Delete an open scope. A gated one is refused: unregistered scopes are open to all."""
    before = scope_view(await scope_or_404(services, name))
    if before.required_roles:
        raise conflict(
            f"scope {name!r} is gated by {', '.join(before.required_roles)}; clear its "
            "required_roles first, or it would open to every user"
        )
    await services.store.access.delete_scope(name)
    await record(services, caller, "scope.deleted", details={"before": before.model_dump()})


async def require_roles(services: Services, names: list[str]) -> None:
    for role in names:
        if await services.store.access.get_role(role) is None:
            raise unprocessable(f"role {role!r} does not exist")
