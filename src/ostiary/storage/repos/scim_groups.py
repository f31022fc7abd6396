"""SCIM view of groups: ``groups`` rows, members from ``group_members`` (users) and
``group_parents`` (nested groups)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary import clock
from ostiary.storage.tables import group_members, group_parents, groups, users

# SQLite and asyncpg cap the bound parameters of one statement near 32k: big member lists
# go in slices.
CHUNK = 1000


def chunks(values: Sequence[str] | set[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


class DuplicateScimGroup(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ScimGroupRow:
    id: str
    name: str
    external_id: str | None
    created_at: int
    updated_at: int
    # (id, display, "User" | "Group")
    members: list[tuple[str, str, str]]


class ScimGroupRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self, name: str, external_id: str | None, user_ids: set[str], group_ids: set[str]
    ) -> str:
        group_id = str(uuid.uuid4())
        now = clock.now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(groups).values(
                        id=group_id,
                        name=name,
                        external_id=external_id,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await self._link(conn, group_id, user_ids, group_ids)
        except IntegrityError:
            raise DuplicateScimGroup(name) from None
        return group_id

    async def replace(
        self,
        group_id: str,
        name: str,
        external_id: str | None,
        user_ids: set[str],
        group_ids: set[str],
    ) -> None:
        """Set name and members; only the membership differences are written."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(groups)
                    .where(groups.c.id == group_id)
                    .values(name=name, external_id=external_id, updated_at=clock.now())
                )
                users_now, groups_now = await self._member_ids(conn, group_id)
                for part in chunks(users_now - user_ids):
                    await conn.execute(
                        delete(group_members).where(
                            group_members.c.group_id == group_id,
                            group_members.c.user_id.in_(part),
                        )
                    )
                for part in chunks(groups_now - group_ids):
                    await conn.execute(
                        delete(group_parents).where(
                            group_parents.c.parent_id == group_id,
                            group_parents.c.child_id.in_(part),
                        )
                    )
                await self._link(conn, group_id, user_ids - users_now, group_ids - groups_now)
        except IntegrityError:
            raise DuplicateScimGroup(name) from None

    async def _link(
        self, conn: AsyncConnection, group_id: str, user_ids: set[str], group_ids: set[str]
    ) -> None:
        if user_ids:
            await conn.execute(
                insert(group_members), [{"group_id": group_id, "user_id": u} for u in user_ids]
            )
        if group_ids:
            await conn.execute(
                insert(group_parents), [{"parent_id": group_id, "child_id": g} for g in group_ids]
            )

    async def _member_ids(self, conn: AsyncConnection, group_id: str) -> tuple[set[str], set[str]]:
        user_rows = await conn.execute(
            select(group_members.c.user_id).where(group_members.c.group_id == group_id)
        )
        group_rows = await conn.execute(
            select(group_parents.c.child_id).where(group_parents.c.parent_id == group_id)
        )
        return set(user_rows.scalars()), set(group_rows.scalars())

    async def get(self, group_id: str) -> ScimGroupRow | None:
        found = await self.fetch([group_id])
        return found[0] if found else None

    async def fetch(self, ids: Sequence[str]) -> list[ScimGroupRow]:
        if not ids:
            return []
        user_members = (
            select(group_members.c.group_id, users.c.id, users.c.username)
            .join(users, users.c.id == group_members.c.user_id)
            .where(group_members.c.group_id.in_(ids))
        )
        child = groups.alias("child")
        group_children = (
            select(group_parents.c.parent_id, child.c.id, child.c.name)
            .join(child, child.c.id == group_parents.c.child_id)
            .where(group_parents.c.parent_id.in_(ids))
        )
        async with self._engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(select(groups).where(groups.c.id.in_(ids)))}
            members: dict[str, list[tuple[str, str, str]]] = {}
            for m in await conn.execute(user_members):
                members.setdefault(m.group_id, []).append((m.id, m.username, "User"))
            for m in await conn.execute(group_children):
                members.setdefault(m.parent_id, []).append((m.id, m.name, "Group"))
        return [
            ScimGroupRow(
                r.id,
                r.name,
                r.external_id,
                r.created_at,
                r.updated_at,
                sorted(members.get(r.id, []), key=lambda m: m[0]),
            )
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    async def search(
        self,
        where: ColumnElement[bool] | None,
        order_by: Sequence[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[str]]:
        base = select(groups.c.id)
        if where is not None:
            base = base.where(where)
        async with self._engine.connect() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(base.subquery()))
            ).scalar_one()
            ids: list[str] = []
            if limit > 0:
                page = base.order_by(*order_by, groups.c.id).offset(offset).limit(limit)
                ids = list((await conn.execute(page)).scalars())
        return total, ids

    async def existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self._engine.connect() as conn:
            for part in chunks(set(ids)):
                rows = await conn.execute(select(groups.c.id).where(groups.c.id.in_(part)))
                found.update(rows.scalars())
        return found

    async def delete(self, group_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(groups).where(groups.c.id == group_id))
        return result.rowcount > 0
