"""/groups: groups, their members, the roles they grant, and nesting.

Members of a group are members of every group above it and hold the roles granted to
any of them. The rules live in ``admin.operations.groups``, shared with the console.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ostiary.admin import paging
from ostiary.admin.access_schemas import GroupCreate, GroupDetail, GroupOut, GroupPatch, MemberOut
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.operations import groups as ops
from ostiary.admin.problems import documented
from ostiary.admin.resources import GroupId, RolePath, UserId, group_or_404, location
from ostiary.admin.schemas import Page
from ostiary.domain.access import Group
from ostiary.storage.queries import admin_views as queries

router = APIRouter(prefix="/groups", tags=["groups"])
members_router = APIRouter(prefix="/groups/{group_id}", tags=["groups"], responses=documented(404))
view = ops.group_view


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
    out = await ops.create_group(services, caller, body)
    response.headers["Location"] = location(request, "groups", out.id)
    return out


@router.get("/{group_id}", response_model=GroupDetail, responses=documented(404))
async def get_group(group_id: GroupId, services: ServicesDep) -> GroupDetail:
    """The group with its roles, parents and children."""
    return await ops.group_detail(services, group_id)


@router.patch("/{group_id}", response_model=GroupOut, responses=documented(404, 409))
async def update_group(
    group_id: GroupId, body: GroupPatch, services: ServicesDep, caller: CallerDep
) -> GroupOut:
    """Rename the group, change its external id or its MFA policy."""
    return await ops.update_group(services, caller, group_id, body)


@router.delete("/{group_id}", status_code=204, responses=documented(404))
async def delete_group(group_id: GroupId, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete the group; its members lose the roles it granted."""
    await ops.delete_group(services, caller, group_id)
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
    await ops.add_member(services, caller, group_id, user_id)
    return Response(status_code=204)


@members_router.delete("/members/{user_id}", status_code=204)
async def remove_member(
    group_id: GroupId, user_id: UserId, services: ServicesDep, caller: CallerDep
) -> Response:
    await ops.remove_member(services, caller, group_id, user_id)
    return Response(status_code=204)


@members_router.put("/roles/{role}", status_code=204)
async def grant_role(
    group_id: GroupId, role: RolePath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Grant a role to every member (idempotent)."""
    await ops.grant_role(services, caller, group_id, role)
    return Response(status_code=204)


@members_router.delete("/roles/{role}", status_code=204)
async def revoke_role(
    group_id: GroupId, role: RolePath, services: ServicesDep, caller: CallerDep
) -> Response:
    await ops.revoke_role(services, caller, group_id, role)
    return Response(status_code=204)


@members_router.put("/parents/{parent_id}", status_code=204, responses=documented(409))
async def nest_group(
    group_id: GroupId, parent_id: GroupId, services: ServicesDep, caller: CallerDep
) -> Response:
    """Nest this group in ``parent_id``: its members become the parent's members too.
    Refused if it would make a cycle or a chain more than MAX_GROUP_DEPTH levels deep."""
    await ops.nest(services, caller, group_id, parent_id)
    return Response(status_code=204)


@members_router.delete("/parents/{parent_id}", status_code=204)
async def unnest_group(
    group_id: GroupId, parent_id: GroupId, services: ServicesDep, caller: CallerDep
) -> Response:
    await ops.unnest(services, caller, group_id, parent_id)
    return Response(status_code=204)
