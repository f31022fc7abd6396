"""Reads (and two small writes) the admin API, the command line and import need that the
repositories do not offer: keyset pages, link listings, a scope's description."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.domain.access import Group
from ostiary.domain.users import User
from ostiary.storage.tables import (
    clients,
    consents,
    group_members,
    group_parents,
    groups,
    resources,
    roles,
    scope_roles,
    scopes,
    session_clients,
    users,
)

# What the admin API pages through, by the name its cursors carry.
PAGED = {t.name: t for t in (users, clients, roles, scopes, groups, resources)}


async def page(
    engine: AsyncEngine,
    table_name: str,
    key: str,
    *,
    after: str | None,
    limit: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Any], bool]:
    """Rows of ``PAGED[table_name]`` ordered by its unique ``key`` column after ``after``;
    and whether more follow."""
    table = PAGED[table_name]
    column = table.c[key]
    stmt = select(table).where(*where).order_by(column).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(column > after)
    async with engine.connect() as conn:
        rows = list((await conn.execute(stmt)).all())
    return rows[:limit], len(rows) > limit


def user_of(row: Any) -> User:
    m = row._mapping
    return User(**{name: m[name] for name in User.__dataclass_fields__})


def user_filters(
    username_prefix: str | None, email: str | None, disabled: bool | None
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if username_prefix:
        # substr, not LIKE: exact and case-sensitive on both SQLite and PostgreSQL.
        length = len(username_prefix)
        where.append(func.substr(users.c.username, 1, length) == username_prefix)
    if email is not None:
        where.append(func.lower(users.c.email) == email.lower())
    if disabled is not None:
        where.append(users.c.disabled == disabled)
    return where


async def scope_requirements(engine: AsyncEngine, names: list[str]) -> dict[str, list[str]]:
    if not names:
        return {}
    async with engine.connect() as conn:
        rows = (await conn.execute(select(scope_roles).where(scope_roles.c.scope.in_(names)))).all()
    result: dict[str, list[str]] = {}
    for row in rows:
        result.setdefault(row.scope, []).append(row.role)
    return {k: sorted(v) for k, v in result.items()}


async def set_scope_description(engine: AsyncEngine, name: str, description: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(scopes).where(scopes.c.name == name).values(description=description)
        )


async def set_role_description(engine: AsyncEngine, name: str, description: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(roles).where(roles.c.name == name).values(description=description)
        )


async def set_group_external_id(engine: AsyncEngine, group_id: str, value: str | None) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(groups).where(groups.c.id == group_id).values(external_id=value))


async def group_links(engine: AsyncEngine, group_id: str) -> tuple[list[str], list[str]]:
    """(parent ids, child ids) of a group."""
    async with engine.connect() as conn:
        parents = (
            await conn.execute(
                select(group_parents.c.parent_id).where(group_parents.c.child_id == group_id)
            )
        ).all()
        children = (
            await conn.execute(
                select(group_parents.c.child_id).where(group_parents.c.parent_id == group_id)
            )
        ).all()
    return sorted(r.parent_id for r in parents), sorted(r.child_id for r in children)


async def reach(engine: AsyncEngine, group_id: str, *, upward: bool) -> tuple[set[str], int]:
    """The groups above (or below) this one, however far, and how many levels they span.

    Breadth first with a visited set, so it ends even on a cycle made outside the API.
    """
    near, far = (
        (group_parents.c.child_id, group_parents.c.parent_id)
        if upward
        else (group_parents.c.parent_id, group_parents.c.child_id)
    )
    found: set[str] = set()
    frontier, levels = {group_id}, 0
    async with engine.connect() as conn:
        while frontier:
            rows = (await conn.execute(select(far).where(near.in_(frontier)))).all()
            frontier = {r[0] for r in rows} - found - {group_id}
            found |= frontier
            levels += 1 if frontier else 0
    return found, levels


async def members(engine: AsyncEngine, group_id: str) -> list[tuple[str, str]]:
    """(user id, username) of the direct members, by username."""
    stmt = (
        select(users.c.id, users.c.username)
        .join(group_members, group_members.c.user_id == users.c.id)
        .where(group_members.c.group_id == group_id)
        .order_by(users.c.username)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [(r.id, r.username) for r in rows]


async def direct_groups(engine: AsyncEngine, user_id: str) -> list[Group]:
    stmt = (
        select(groups)
        .join(group_members, group_members.c.group_id == groups.c.id)
        .where(group_members.c.user_id == user_id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [Group(**r._mapping) for r in rows]


async def groups_named(engine: AsyncEngine, names: set[str]) -> list[Group]:
    if not names:
        return []
    async with engine.connect() as conn:
        rows = (await conn.execute(select(groups).where(groups.c.name.in_(names)))).all()
    return [Group(**r._mapping) for r in rows]


async def consents_of(engine: AsyncEngine, user_id: str) -> list[Any]:
    stmt = select(consents).where(consents.c.user_id == user_id).order_by(consents.c.client_id)
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def clients_by_session(engine: AsyncEngine, sids: list[str]) -> dict[str, list[str]]:
    if not sids:
        return {}
    stmt = select(session_clients).where(session_clients.c.sid.in_(sids))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    result: dict[str, list[str]] = {}
    for row in rows:
        result.setdefault(row.sid, []).append(row.client_id)
    return {k: sorted(v) for k, v in result.items()}
