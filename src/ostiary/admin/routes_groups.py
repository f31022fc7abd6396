"""/groups: groups, their members, the roles they grant, and nesting.

Members of a group are members of every group above it and hold the roles granted to
any of them.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ostiary.admin import paging
from ostiary.admin.access_schemas import GroupCreate, GroupDetail, GroupOut, GroupPatch, MemberOut
from ostiary.admin.auth import Caller, CallerDep, ServicesDep
from ostiary.admin.problems import conflict, documented, not_found
from ostiary.admin.resources import (
    GroupId,
    RolePath,
    UserId,
    created,
    group_or_404,
    new,
    record,
    updated,
    user_or_404,
)
from ostiary.admin.schemas import Page
from ostiary.domain.access import MAX_GROUP_DEPTH, AccessError, Group
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries

router = APIRouter(prefix="/groups", tags=["groups"])
members_router = APIRouter(prefix="/groups/{group_id}", tags=["groups"], responses=documented(404))


def view(group: Group) -> GroupOut:
    return GroupOut.model_validate(group, from_attributes=True)


@router.get("", response_model=Page[GroupOut])
async def list_groups(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[GroupOut]:
    """Groups by name."""
    rows, next_cursor = await paging.rows(services, "groups", "name", cursor=cursor, limit=limit)
    items = [view(Group(**r._mapping)) for r in rows]
    return Page[GroupOut](items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=GroupOut, responses=documented(409))
async def create_group(
    body: GroupCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> GroupOut:
    creation = services.store.access.create_group(
        body.name, body.external_id, require_mfa=body.require_mfa
    )
    group = await new(creation, f"group {body.name!r}")
    out = view(group)
    await created(
        services, caller, request, response, "group.created", out.model_dump(), "groups", group.id
    )
    return out


@router.get("/{group_id}", response_model=GroupDetail, responses=documented(404))
async def get_group(group_id: GroupId, services: ServicesDep) -> GroupDetail:
    """The group with its roles, parents and children."""
    group = await group_or_404(services, group_id)
    parents, children = await queries.group_links(services.engine, group.id)
    roles = await services.store.access.group_role_names(group.id)
    return GroupDetail(**view(group).model_dump(), roles=roles, parents=parents, children=children)


@router.patch("/{group_id}", response_model=GroupOut, responses=documented(404, 409))
async def update_group(
    group_id: GroupId, body: GroupPatch, services: ServicesDep, caller: CallerDep
) -> GroupOut:
    """Rename the group, change its external id or its MFA policy."""
    group = await group_or_404(services, group_id)
    if body.name is not None and body.name != group.name:
        other = await services.store.access.get_group(body.name)
        if other is not None and other.id != group.id:
            raise conflict(f"group {body.name!r} exists already")
        await services.store.access.rename_group(group.id, body.name)
    if "external_id" in body.model_fields_set:
        await queries.set_group_external_id(services.engine, group.id, body.external_id)
    if body.require_mfa is not None and body.require_mfa != group.require_mfa:
        await services.store.access.update_group(group.id, require_mfa=body.require_mfa)
    before, after = view(group), view(await group_or_404(services, group.id))
    if before.model_dump(exclude={"updated_at"}) != after.model_dump(exclude={"updated_at"}):
        await updated(services, caller, "group.updated", before.model_dump(), after.model_dump())
    return after


@router.delete("/{group_id}", status_code=204, responses=documented(404))
async def delete_group(group_id: GroupId, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete the group; its members lose the roles it granted."""
    group = await group_or_404(services, group_id)
    await services.store.access.delete_group(group.id)
    await record(services, caller, "group.deleted", details={"before": view(group).model_dump()})
    return Response(status_code=204)


@members_router.get("/members", response_model=Page[MemberOut])
async def list_members(group_id: GroupId, services: ServicesDep) -> Page[MemberOut]:
    """Direct members, by username."""
    group = await group_or_404(services, group_id)
    rows = await queries.members(services.engine, group.id)
    return Page[MemberOut](items=[MemberOut(id=i, username=u) for i, u in rows])


@members_router.put("/members/{user_id}", status_code=204)
async def add_member(
    group_id: GroupId, user_id: UserId, services: ServicesDep, caller: CallerDep
) -> Response:
    """Make the user a member (idempotent)."""
    group = await group_or_404(services, group_id)
    user = await user_or_404(services, user_id)
    if await services.store.access.add_member(group.id, user.id):
        await _linked(services, caller, "group.member_added", group, user_id=user.id)
    return Response(status_code=204)


@members_router.delete("/members/{user_id}", status_code=204)
async def remove_member(
    group_id: GroupId, user_id: UserId, services: ServicesDep, caller: CallerDep
) -> Response:
    group = await group_or_404(services, group_id)
    if not await services.store.access.remove_member(group.id, user_id):
        raise not_found(f"membership of user {user_id!r}")
    await _linked(services, caller, "group.member_removed", group, user_id=user_id)
    return Response(status_code=204)


@members_router.put("/roles/{role}", status_code=204)
async def grant_role(
    group_id: GroupId, role: RolePath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Grant a role to every member (idempotent)."""
    group = await group_or_404(services, group_id)
    try:
        added = await services.store.access.grant_group_role(group.id, role)
    except AccessError:
        raise not_found(f"role {role!r}") from None
    if added:
        await _linked(services, caller, "group.role_granted", group, role=role)
    return Response(status_code=204)


@members_router.delete("/roles/{role}", status_code=204)
async def revoke_role(
    group_id: GroupId, role: RolePath, services: ServicesDep, caller: CallerDep
) -> Response:
    group = await group_or_404(services, group_id)
    if not await services.store.access.revoke_group_role(group.id, role):
        raise not_found(f"grant of role {role!r} to this group")
    await _linked(services, caller, "group.role_revoked", group, role=role)
    return Response(status_code=204)


@members_router.put("/parents/{parent_id}", status_code=204, responses=documented(409))
async def nest_group(
    group_id: GroupId, parent_id: GroupId, services: ServicesDep, caller: CallerDep
) -> Response:
    """Nest this group in ``parent_id``: its members become the parent's members too.
    Refused if it would make a cycle or a chain more than MAX_GROUP_DEPTH levels deep."""
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
        return Response(status_code=204)
    try:
        await services.store.access.nest(group.id, parent.id)
    except AccessError as exc:
        raise conflict(str(exc)) from None
    await _linked(services, caller, "group.nested", group, parent_id=parent.id)
    return Response(status_code=204)


@members_router.delete("/parents/{parent_id}", status_code=204)
async def unnest_group(
    group_id: GroupId, parent_id: GroupId, services: ServicesDep, caller: CallerDep
) -> Response:
    group = await group_or_404(services, group_id)
    if not await services.store.access.unnest(group.id, parent_id):
        raise not_found(f"nesting of this group in {parent_id!r}")
    await _linked(services, caller, "group.unnested", group, parent_id=parent_id)
    return Response(status_code=204)


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
