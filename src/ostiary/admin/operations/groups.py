"""Groups: their members, the roles they grant, and nesting.

Members of a group are members of every group above it and hold the roles granted to
any of them.
"""

from __future__ import annotations

from ostiary.admin.access_schemas import GroupCreate, GroupDetail, GroupOut, GroupPatch
from ostiary.admin.auth import Caller
from ostiary.admin.problems import conflict, not_found
from ostiary.admin.resources import group_or_404, new, record, updated, user_or_404
from ostiary.domain.access import MAX_GROUP_DEPTH, AccessError, Group
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries


def group_view(group: Group) -> GroupOut:
    return GroupOut.model_validate(group, from_attributes=True)


async def group_detail(services: Services, group_id: str) -> GroupDetail:
    """The group with its roles, parents and children (ids)."""
    group = await group_or_404(services, group_id)
    parents, children = await queries.group_links(services.engine, group.id)
    roles = await services.store.access.group_role_names(group.id)
    return GroupDetail(
        **group_view(group).model_dump(), roles=roles, parents=parents, children=children
    )


async def create_group(services: Services, caller: Caller, body: GroupCreate) -> GroupOut:
    creation = services.store.access.create_group(
        body.name, body.external_id, require_mfa=body.require_mfa
    )
    out = group_view(await new(creation, f"group {body.name!r}"))
    await record(services, caller, "group.created", details={"after": out.model_dump()})
    return out


async def update_group(
    services: Services, caller: Caller, group_id: str, body: GroupPatch
) -> GroupOut:
    """Rename the group, change its external id or its MFA policy."""
    group = await group_or_404(services, group_id)
    access = services.store.access
    if body.name is not None and body.name != group.name:
        other = await access.get_group(body.name)
        if other is not None and other.id != group.id:
            raise conflict(f"group {body.name!r} exists already")
        await access.rename_group(group.id, body.name)
    if "external_id" in body.model_fields_set:
        await queries.set_group_external_id(services.engine, group.id, body.external_id)
    if body.require_mfa is not None and body.require_mfa != group.require_mfa:
        await access.update_group(group.id, require_mfa=body.require_mfa)
    before, after = group_view(group), group_view(await group_or_404(services, group.id))
    if before.model_dump(exclude={"updated_at"}) != after.model_dump(exclude={"updated_at"}):
        await updated(services, caller, "group.updated", before.model_dump(), after.model_dump())
    return after


async def delete_group(services: Services, caller: Caller, group_id: str) -> None:
    """Delete the group; its members lose the roles it granted."""
    group = await group_or_404(services, group_id)
    await services.store.access.delete_group(group.id)
    await record(
        services, caller, "group.deleted", details={"before": group_view(group).model_dump()}
    )


async def add_member(services: Services, caller: Caller, group_id: str, user_id: str) -> bool:
    """Make the user a member (idempotent); whether they were not one before."""
    group = await group_or_404(services, group_id)
    user = await user_or_404(services, user_id)
    added = await services.store.access.add_member(group.id, user.id)
    if added:
        await _linked(services, caller, "group.member_added", group, user_id=user.id)
    return added


async def remove_member(services: Services, caller: Caller, group_id: str, user_id: str) -> None:
    group = await group_or_404(services, group_id)
    if not await services.store.access.remove_member(group.id, user_id):
        raise not_found(f"membership of user {user_id!r}")
    await _linked(services, caller, "group.member_removed", group, user_id=user_id)


async def grant_role(services: Services, caller: Caller, group_id: str, role: str) -> bool:
    """Grant a role to every member (idempotent); whether it is new to the group."""
    group = await group_or_404(services, group_id)
    try:
        added = await services.store.access.grant_group_role(group.id, role)
    except AccessError:
        raise not_found(f"role {role!r}") from None
    if added:
        await _linked(services, caller, "group.role_granted", group, role=role)
    return added


async def revoke_role(services: Services, caller: Caller, group_id: str, role: str) -> None:
    group = await group_or_404(services, group_id)
    if not await services.store.access.revoke_group_role(group.id, role):
        raise not_found(f"grant of role {role!r} to this group")
    await _linked(services, caller, "group.role_revoked", group, role=role)


async def nest(services: Services, caller: Caller, group_id: str, parent_id: str) -> bool:
    """Nest the group in ``parent_id``: its members become the parent's members too.
    Refused if it would make a cycle or a chain more than MAX_GROUP_DEPTH levels deep.
    Whether the nesting is new."""
    group = await group_or_404(services, group_id)
    parent = await group_or_404(services, parent_id)
    engine = services.engine
    above, height = await queries.reach(engine, parent.id, upward=True)
    if group.id == parent.id or group.id in above:
        raise conflict("that nesting would make a cycle")
    # A bound on what one can build, so every role lookup stays a few queries.
    _, depth = await queries.reach(engine, group.id, upward=False)
    if depth + 1 + height > MAX_GROUP_DEPTH:
        raise conflict(f"groups nest at most {MAX_GROUP_DEPTH} levels deep")
    parents, _ = await queries.group_links(engine, group.id)
    if parent.id in parents:
        return False
    try:
        await services.store.access.nest(group.id, parent.id)
    except AccessError as exc:
        raise conflict(str(exc)) from None
    await _linked(services, caller, "group.nested", group, parent_id=parent.id)
    return True


async def unnest(services: Services, caller: Caller, group_id: str, parent_id: str) -> None:
    group = await group_or_404(services, group_id)
    if not await services.store.access.unnest(group.id, parent_id):
        raise not_found(f"nesting of this group in {parent_id!r}")
    await _linked(services, caller, "group.unnested", group, parent_id=parent_id)


async def _linked(
    services: Services, caller: Caller, type: str, group: Group, **details: str
) -> None:
    await record(
        services,
        caller,
        type,
        user_id=details.get("user_id"),
        details={"group_id": group.id, "group": group.name, **details},
    )
