"""Roles: create, describe, delete. The console's own roles stay (the last word on who may
administer Ostiary must not be one click away from gone)."""

from __future__ import annotations

from ostiary.admin.access_schemas import RoleCreate, RoleOut, RolePatch
from ostiary.admin.auth import Caller
from ostiary.admin.bootstrap import CONSOLE_ROLES
from ostiary.admin.problems import conflict, not_found
from ostiary.admin.resources import new, record, role_or_404, updated
from ostiary.domain.access import AccessError, Role
from ostiary.services import Services


def role_view(role: Role) -> RoleOut:
    return RoleOut.model_validate(role, from_attributes=True)


async def create_role(services: Services, caller: Caller, body: RoleCreate) -> RoleOut:
    """A new role (409 if the name is taken); audited as ``role.created``."""
    creation = services.store.access.create_role(
        body.name, body.description, require_mfa=body.require_mfa
    )
    out = role_view(await new(creation, f"role {body.name!r}"))
    await record(services, caller, "role.created", details={"after": out.model_dump()})
    return out


async def update_role(services: Services, caller: Caller, name: str, body: RolePatch) -> RoleOut:
    """Change the description or the MFA policy; audited only when something changed."""
    before = role_view(await role_or_404(services, name))
    role = await services.store.access.update_role(
        name, description=body.description, require_mfa=body.require_mfa
    )
    if role is None:  # deleted meanwhile
        raise not_found(f"role {name!r}")
    after = role_view(role)
    if after != before:
        await updated(services, caller, "role.updated", before.model_dump(), after.model_dump())
    return after


async def delete_role(services: Services, caller: Caller, name: str) -> None:
    """Delete a role; users and groups lose it. Refused (409) for the console's roles and
    while the role gates a scope."""
    role = await role_or_404(services, name)
    if role.name in CONSOLE_ROLES:
        # Without it nobody could sign in to the console (or hold its narrower powers).
        raise conflict(f"role {name!r} is one of the console's own roles and cannot be deleted")
    try:
        await services.store.access.delete_role(name)
    except AccessError as exc:
        # Fail closed: without its role a scope would be open to every user.
        raise conflict(f"{exc} (PATCH their required_roles)") from None
    before = role_view(role)
    await record(services, caller, "role.deleted", details={"before": before.model_dump()})
