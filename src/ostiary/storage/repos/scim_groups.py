"""SCIM view of groups: ``groups`` rows, members from ``group_members`` (users) and
``group_parents`` (nested groups), the version counter in ``scim_groups``.

Every SCIM write claims the group first with a conditional UPDATE of its counter
(RFC 7644 §3.14) in the write's own transaction, and member changes touch only the
members named: nothing here loads a whole member list except ``fetch(members=True)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary import clock
from ostiary.storage.repos._base import column_set
from ostiary.storage.repos._scim_queries import (
    ScimRepository,
    VersionConflict,
    bump_version,
    chunks,
)
from ostiary.storage.tables import group_members, group_parents, groups, scim_groups, users


class DuplicateScimGroup(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ScimGroupRow:
    id: str
    name: str
    external_id: str | None
    created_at: int
    updated_at: int
    version: int
    user_count: int
    group_count: int
    # (id, display, "User" | "Group"); None when not loaded.
    members: list[tuple[str, str, str]] | None


@dataclass
class MemberChanges:
    """A PATCH expressed as row changes: clear, then remove, then add."""

    name: str | None = None
    external_id: str | None = None
    set_external_id: bool = False
    clear: bool = False
    remove: set[str] = field(default_factory=set)
    add_users: set[str] = field(default_factory=set)
    add_groups: set[str] = field(default_factory=set)


_VERSION = func.coalesce(scim_groups.c.version, 0).label("version")


class ScimGroupRepository(ScimRepository):
    id_column = groups.c.id
    searched = select(groups.c.id)

    async def add(
        self, name: str, external_id: str | None, user_ids: set[str], group_ids: set[str]
    ) -> str:
        group_id = str(uuid.uuid4())
        now = clock.now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(groups),
                    {
                        "id": group_id,
                        "name": name,
                        "external_id": external_id,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                await conn.execute(insert(scim_groups), {"group_id": group_id, "version": 1})
                await self._link(conn, group_id, user_ids, group_ids)
        except IntegrityError:
            raise DuplicateScimGroup(name) from None
        return group_id

    async def _claim(self, conn: AsyncConnection, group_id: str, expected: int) -> None:
        if expected == 0:
            # Made outside SCIM: the first SCIM write creates the counter; of two racing
            # writers only one inserts it.
            dialect = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = dialect(scim_groups).values(group_id=group_id, version=1)
            result = await conn.execute(statement.on_conflict_do_nothing())
            if result.rowcount != 1:
                raise VersionConflict(group_id)
        else:
            await bump_version(conn, scim_groups, scim_groups.c.group_id, group_id, expected)

    async def replace(
        self,
        group_id: str,
        expected: int,
        name: str,
        external_id: str | None,
        user_ids: set[str],
        group_ids: set[str],
    ) -> None:
        """Set name and members (PUT); only the membership differences are written."""
        try:
            async with self._engine.begin() as conn:
                await self._claim(conn, group_id, expected)
                await self._rename(conn, group_id, name, external_id)
                users_now, groups_now = await self._member_ids(conn, group_id)
                gone = (users_now - user_ids) | (groups_now - group_ids)
                await self._unlink(conn, group_id, gone)
                await self._link(conn, group_id, user_ids - users_now, group_ids - groups_now)
        except IntegrityError:
            raise DuplicateScimGroup(name) from None

    async def change(self, group_id: str, expected: int, changes: MemberChanges) -> None:
        """Apply a PATCH without reading the member list: members named are checked
        against the rows, the rest is left alone."""
        try:
            async with self._engine.begin() as conn:
                await self._claim(conn, group_id, expected)
                row = (
                    await conn.execute(
                        select(groups.c.name, groups.c.external_id).where(groups.c.id == group_id)
                    )
                ).one()
                name = changes.name if changes.name is not None else row.name
                external = changes.external_id if changes.set_external_id else row.external_id
                await self._rename(conn, group_id, name, external)
                if changes.clear:
                    await conn.execute(
                        delete(group_members).where(group_members.c.group_id == group_id)
                    )
                    await conn.execute(
                        delete(group_parents).where(group_parents.c.parent_id == group_id)
                    )
                await self._unlink(conn, group_id, changes.remove)
                have_users, have_groups = await self._present(
                    conn, group_id, changes.add_users | changes.add_groups
                )
                await self._link(
                    conn,
                    group_id,
                    changes.add_users - have_users,
                    changes.add_groups - have_groups,
                )
        except IntegrityError:
            raise DuplicateScimGroup(changes.name or "") from None

    async def _rename(
        self, conn: AsyncConnection, group_id: str, name: str, external_id: str | None
    ) -> None:
        await conn.execute(
            update(groups)
            .where(groups.c.id == group_id)
            .values(name=name, external_id=external_id, updated_at=clock.now())
        )

    async def _present(
        self, conn: AsyncConnection, group_id: str, ids: set[str]
    ) -> tuple[set[str], set[str]]:
        found_users: set[str] = set()
        found_groups: set[str] = set()
        for part in chunks(ids):
            found_users |= await column_set(conn, self._user_members(group_id, part))
            found_groups |= await column_set(conn, self._group_members(group_id, part))
        return found_users, found_groups

    @staticmethod
    def _user_members(group_id: str, among: list[str] | None = None) -> Select[Any]:
        """The user members of the group (among these ids only, when given)."""
        query = select(group_members.c.user_id).where(group_members.c.group_id == group_id)
        return query if among is None else query.where(group_members.c.user_id.in_(among))

    @staticmethod
    def _group_members(group_id: str, among: list[str] | None = None) -> Select[Any]:
        """The child groups of the group (among these ids only, when given)."""
        query = select(group_parents.c.child_id).where(group_parents.c.parent_id == group_id)
        return query if among is None else query.where(group_parents.c.child_id.in_(among))

    async def _unlink(self, conn: AsyncConnection, group_id: str, ids: set[str]) -> None:
        for part in chunks(ids):
            await conn.execute(
                delete(group_members).where(
                    group_members.c.group_id == group_id, group_members.c.user_id.in_(part)
                )
            )
            await conn.execute(
                delete(group_parents).where(
                    group_parents.c.parent_id == group_id, group_parents.c.child_id.in_(part)
                )
            )

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
        return (
            await column_set(conn, self._user_members(group_id)),
            await column_set(conn, self._group_members(group_id)),
        )

    async def get(self, group_id: str, *, members: bool = True) -> ScimGroupRow | None:
        found = await self.fetch([group_id], members=members)
        return found[0] if found else None

    async def fetch(self, ids: Sequence[str], *, members: bool = True) -> list[ScimGroupRow]:
        """Rows for ``ids`` in that order; member counts always (they are part of the
        version), the member list only when asked."""
        if not ids:
            return []
        head = (
            select(groups, _VERSION)
            .outerjoin(scim_groups, scim_groups.c.group_id == groups.c.id)
            .where(groups.c.id.in_(ids))
        )
        user_counts = (
            select(group_members.c.group_id, func.count())
            .where(group_members.c.group_id.in_(ids))
            .group_by(group_members.c.group_id)
        )
        group_counts = (
            select(group_parents.c.parent_id, func.count())
            .where(group_parents.c.parent_id.in_(ids))
            .group_by(group_parents.c.parent_id)
        )
        listed: dict[str, list[tuple[str, str, str]]] = {}
        async with self._engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(head)}
            n_users = {g: n for g, n in await conn.execute(user_counts)}
            n_groups = {g: n for g, n in await conn.execute(group_counts)}
            if members:
                listed = await self._members(conn, ids)
        return [
            ScimGroupRow(
                r.id,
                r.name,
                r.external_id,
                r.created_at,
                r.updated_at,
                r.version,
                n_users.get(r.id, 0),
                n_groups.get(r.id, 0),
                sorted(listed.get(r.id, []), key=lambda m: m[0]) if members else None,
            )
            for i in ids
            if (r := rows.get(i)) is not None
        ]

    async def _members(
        self, conn: AsyncConnection, ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str, str]]]:
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
        found: dict[str, list[tuple[str, str, str]]] = {}
        for m in await conn.execute(user_members):
            found.setdefault(m.group_id, []).append((m.id, m.username, "User"))
        for m in await conn.execute(group_children):
            found.setdefault(m.parent_id, []).append((m.id, m.name, "Group"))
        return found

    async def children(self, ids: Sequence[str]) -> set[str]:
        """Direct child groups of ``ids`` (for cycle checks)."""
        found: set[str] = set()
        async with self._engine.connect() as conn:
            for part in chunks(set(ids)):
                found |= await column_set(
                    conn,
                    select(group_parents.c.child_id).where(group_parents.c.parent_id.in_(part)),
                )
        return found

    async def delete(self, group_id: str, expected: int) -> bool:
        async with self._engine.begin() as conn:
            await self._claim(conn, group_id, expected)
            result = await conn.execute(delete(groups).where(groups.c.id == group_id))
        return result.rowcount > 0
