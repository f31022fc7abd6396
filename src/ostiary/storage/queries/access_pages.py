"""Reads the console's role, group and scope pages need beyond the access repository:
who holds a role, what a role gates, a group's members a page at a time, and the roles a
set of groups grants (for the rule that only an admin touches a group granting a console
role)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.domain.access import Group
from ostiary.storage.queries import admin_views
from ostiary.storage.tables import (
    group_members,
    group_roles,
    groups,
    scope_roles,
    user_roles,
    users,
)


async def role_holders(
    engine: AsyncEngine, role: str, *, limit: int
) -> tuple[list[tuple[str, str]], bool]:
    """(user id, username) of the users holding ``role`` directly, by username; and
    whether more hold it."""
    stmt = (
        select(users.c.id, users.c.username)
        .join(user_roles, user_roles.c.user_id == users.c.id)
        .where(user_roles.c.role == role)
        .order_by(users.c.username)
        .limit(limit + 1)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(r.id, r.username) for r in rows[:limit]], len(rows) > limit


async def groups_granting(engine: AsyncEngine, role: str) -> list[Group]:
    """The groups ``role`` is granted to, by name."""
    stmt = (
        select(groups)
        .join(group_roles, group_roles.c.group_id == groups.c.id)
        .where(group_roles.c.role == role)
        .order_by(groups.c.name)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [Group(**r._mapping) for r in rows]


async def scopes_gated_by(engine: AsyncEngine, role: str) -> list[str]:
    stmt = select(scope_roles.c.scope).where(scope_roles.c.role == role).order_by("scope")
    async with engine.connect() as conn:
        return [r.scope for r in (await conn.execute(stmt)).all()]


async def roles_granted_to(engine: AsyncEngine, group_ids: Iterable[str]) -> set[str]:
    ids = list(group_ids)
    if not ids:
        return set()
    stmt = select(group_roles.c.role).where(group_roles.c.group_id.in_(ids))
    async with engine.connect() as conn:
        return {r.role for r in (await conn.execute(stmt)).all()}


async def groups_by_id(engine: AsyncEngine, ids: Iterable[str]) -> list[Group]:
    """The groups of ``ids`` that exist, by name."""
    wanted = list(ids)
    if not wanted:
        return []
    stmt = select(groups).where(groups.c.id.in_(wanted)).order_by(groups.c.name)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [Group(**r._mapping) for r in rows]


async def members_page(
    engine: AsyncEngine, group_id: str, *, after: str | None, limit: int
) -> tuple[list[tuple[str, str]], bool]:
    """(user id, username) of direct members by username after ``after``; and whether
    more follow."""
    stmt = (
        select(users.c.id, users.c.username)
        .join(group_members, group_members.c.user_id == users.c.id)
        .where(group_members.c.group_id == group_id)
        .order_by(users.c.username)
        .limit(limit + 1)
    )
    if after is not None:
        stmt = stmt.where(users.c.username > after)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(r.id, r.username) for r in rows[:limit]], len(rows) > limit


async def names_page(
    engine: AsyncEngine, table: str, prefix: str, *, after: str | None, limit: int
) -> tuple[list[Any], bool]:
    """A page of roles, groups or scopes by name, narrowed to names starting with
    ``prefix`` (substr, not LIKE: exact and case-sensitive on SQLite and PostgreSQL alike)."""
    column = admin_views.PAGED[table].c.name
    where = [func.substr(column, 1, len(prefix)) == prefix] if prefix else []
    return await admin_views.page(engine, table, "name", after=after, limit=limit, where=where)
