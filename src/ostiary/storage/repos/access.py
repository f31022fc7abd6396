"""Roles, groups (nested) and scopes: who may be granted what (RBAC)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.access import AccessError, Effective, Group, Role, Scope
from ostiary.storage.repos._driver import Driver, json_text
from ostiary.storage.tables import (
    group_members,
    group_parents,
    group_roles,
    groups,
    roles,
    scope_roles,
    scopes,
    user_roles,
)

# Asked on every authorization, hence the driver connection; the names as one JSON
# array parameter (one statement text per dialect).
_REQUIREMENTS = {
    True: "SELECT scope, role FROM scope_roles"
    " WHERE scope IN (SELECT json_array_elements_text($1::json))",
    False: "SELECT scope, role FROM scope_roles WHERE scope IN (SELECT value FROM json_each($1))",
}


class AccessRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

    # -- roles ---------------------------------------------------------------------------

    async def create_role(self, name: str, description: str = "") -> Role:
        role = Role(name, description, clock.now())
        await self._insert(
            roles,
            f"role {name!r} exists",
            name=name,
            description=description,
            created_at=role.created_at,
        )
        return role

    async def list_roles(self) -> list[Role]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(roles).order_by(roles.c.name))).all()
        return [Role(**r._mapping) for r in rows]

    async def get_role(self, name: str) -> Role | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(roles).where(roles.c.name == name))).first()
        return Role(**row._mapping) if row else None

    async def delete_role(self, name: str) -> bool:
        """Delete a role. A role that gates a scope cannot go: dropping the gate would open
        the scope to every user (fail closed; change the scope's roles first)."""
        async with self._engine.begin() as conn:
            gated = (
                await conn.execute(select(scope_roles.c.scope).where(scope_roles.c.role == name))
            ).all()
            if gated:
                names = ", ".join(sorted(r.scope for r in gated))
                raise AccessError(f"role {name!r} gates scope(s) {names}; change them first")
            result = await conn.execute(delete(roles).where(roles.c.name == name))
        return result.rowcount > 0

    async def assign(self, user_id: str, role: str) -> bool:
        """True if newly assigned (or made manual: see ``_claim``), False if the user had
        it already."""
        await self._require_role(role)
        if await self._link(user_roles, user_id=user_id, role=role):
            return True
        return await self._claim(
            user_roles, user_roles.c.user_id == user_id, user_roles.c.role == role
        )

    async def unassign(self, user_id: str, role: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(user_roles).where(user_roles.c.user_id == user_id, user_roles.c.role == role)
            )
        return result.rowcount > 0

    async def direct_roles(self, user_id: str) -> list[str]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(user_roles.c.role).where(user_roles.c.user_id == user_id))
            ).all()
        return sorted(r.role for r in rows)

    # -- groups --------------------------------------------------------------------------

    async def create_group(
        self, name: str, external_id: str | None = None, *, group_id: str | None = None
    ) -> Group:
        """A new group; ``group_id`` is chosen only when an import restores one."""
        now = clock.now()
        group = Group(group_id or str(uuid.uuid4()), name, external_id, now, now)
        await self._insert(
            groups,
            f"group {name!r} exists",
            id=group.id,
            name=name,
            external_id=external_id,
            created_at=now,
            updated_at=now,
        )
        return group

    async def get_group(self, key: str) -> Group | None:
        """By id or by name."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(groups).where((groups.c.id == key) | (groups.c.name == key))
                )
            ).first()
        return Group(**row._mapping) if row else None

    async def list_groups(self) -> list[Group]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(groups).order_by(groups.c.name))).all()
        return [Group(**r._mapping) for r in rows]

    async def rename_group(self, group_id: str, name: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(groups)
                .where(groups.c.id == group_id)
                .values(name=name, updated_at=clock.now())
            )

    async def delete_group(self, group_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(groups).where(groups.c.id == group_id))
        return result.rowcount > 0

    async def add_member(self, group_id: str, user_id: str) -> bool:
        if await self._link(group_members, group_id=group_id, user_id=user_id):
            return True
        return await self._claim(
            group_members, group_members.c.group_id == group_id, group_members.c.user_id == user_id
        )

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(group_members).where(
                    group_members.c.group_id == group_id, group_members.c.user_id == user_id
                )
            )
        return result.rowcount > 0

    async def members(self, group_id: str) -> list[str]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(group_members.c.user_id).where(group_members.c.group_id == group_id)
                )
            ).all()
        return sorted(r.user_id for r in rows)

    async def grant_group_role(self, group_id: str, role: str) -> bool:
        await self._require_role(role)
        return await self._link(group_roles, group_id=group_id, role=role)

    async def revoke_group_role(self, group_id: str, role: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(group_roles).where(
                    group_roles.c.group_id == group_id, group_roles.c.role == role
                )
            )
        return result.rowcount > 0

    async def group_role_names(self, group_id: str) -> list[str]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(group_roles.c.role).where(group_roles.c.group_id == group_id)
                )
            ).all()
        return sorted(r.role for r in rows)

    async def nest(self, child_id: str, parent_id: str) -> None:
        """Make ``child`` a subgroup of ``parent``; refuses cycles."""
        if child_id == parent_id or child_id in await self._ancestors([parent_id]):
            raise AccessError("that nesting would make a cycle")
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(group_parents).values(child_id=child_id, parent_id=parent_id)
                )
        except IntegrityError:
            return

    async def unnest(self, child_id: str, parent_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(group_parents).where(
                    group_parents.c.child_id == child_id, group_parents.c.parent_id == parent_id
                )
            )
        return result.rowcount > 0

    async def _ancestors(self, group_ids: Iterable[str]) -> set[str]:
        """The groups above these, following parent links breadth first (bounded depth)."""
        found: set[str] = set()
        frontier = set(group_ids)
        async with self._engine.connect() as conn:
            # No depth limit: nesting refuses cycles, and `found` stops any loop anyway.
            while frontier:
                rows = (
                    await conn.execute(
                        select(group_parents.c.parent_id).where(
                            group_parents.c.child_id.in_(frontier)
                        )
                    )
                ).all()
                frontier = {r.parent_id for r in rows} - found - set(group_ids)
                found |= frontier
        return found

    # -- effective access ----------------------------------------------------------------

    async def effective(self, user_id: str) -> Effective:
        async with self._engine.connect() as conn:
            direct_groups = {
                r.group_id
                for r in (
                    await conn.execute(
                        select(group_members.c.group_id).where(group_members.c.user_id == user_id)
                    )
                ).all()
            }
        all_groups = direct_groups | await self._ancestors(direct_groups)
        async with self._engine.connect() as conn:
            direct = {
                r.role
                for r in (
                    await conn.execute(
                        select(user_roles.c.role).where(user_roles.c.user_id == user_id)
                    )
                ).all()
            }
            via_groups: set[str] = set()
            names: set[str] = set()
            if all_groups:
                via_groups = {
                    r.role
                    for r in (
                        await conn.execute(
                            select(group_roles.c.role).where(group_roles.c.group_id.in_(all_groups))
                        )
                    ).all()
                }
                names = {
                    r.name
                    for r in (
                        await conn.execute(select(groups.c.name).where(groups.c.id.in_(all_groups)))
                    ).all()
                }
        return Effective(frozenset(direct | via_groups), frozenset(names))

    # -- scopes --------------------------------------------------------------------------

    async def create_scope(
        self, name: str, *, description: str = "", required_roles: Iterable[str] = ()
    ) -> Scope:
        required = sorted(set(required_roles))
        for role in required:
            await self._require_role(role)
        now = clock.now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(scopes).values(name=name, description=description, created_at=now)
                )
                if required:
                    await conn.execute(
                        insert(scope_roles), [{"scope": name, "role": r} for r in required]
                    )
        except IntegrityError:
            raise AccessError(f"scope {name!r} exists") from None
        return Scope(name, description, tuple(required), now)

    async def set_scope_roles(self, name: str, required_roles: Iterable[str]) -> None:
        required = sorted(set(required_roles))
        for role in required:
            await self._require_role(role)
        async with self._engine.begin() as conn:
            await conn.execute(delete(scope_roles).where(scope_roles.c.scope == name))
            if required:
                await conn.execute(
                    insert(scope_roles), [{"scope": name, "role": r} for r in required]
                )

    async def list_scopes(self) -> list[Scope]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(scopes).order_by(scopes.c.name))).all()
            links = (await conn.execute(select(scope_roles))).all()
        required: dict[str, list[str]] = {}
        for link in links:
            required.setdefault(link.scope, []).append(link.role)
        return [
            Scope(r.name, r.description, tuple(sorted(required.get(r.name, []))), r.created_at)
            for r in rows
        ]

    async def get_scope(self, name: str) -> Scope | None:
        return next((s for s in await self.list_scopes() if s.name == name), None)

    async def delete_scope(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(scopes).where(scopes.c.name == name))
        return result.rowcount > 0

    async def requirements(self, names: Iterable[str]) -> dict[str, frozenset[str]]:
        """For each of these scopes that is gated, the roles that may have it."""
        wanted = set(names)
        if not wanted:
            return {}
        rows = await self._driver.fetch(
            _REQUIREMENTS[self._driver.postgresql], json_text(sorted(wanted))
        )
        result: dict[str, set[str]] = {}
        for scope, role in rows:
            result.setdefault(scope, set()).add(role)
        return {k: frozenset(v) for k, v in result.items()}

    # -- helpers -------------------------------------------------------------------------

    async def _require_role(self, role: str) -> None:
        if await self.get_role(role) is None:
            raise AccessError(f"no role {role!r}")

    async def _link(self, table: object, **values: object) -> bool:
        """Insert a link row; False when it was there already (or a side does not exist:
        callers resolve names to existing rows first)."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(table).values(**values))  # type: ignore[arg-type]
        except IntegrityError:
            return False
        return True

    async def _claim(self, table: Any, *where: Any) -> bool:
        """A link a federation claim mapping made, now given by hand, becomes manual: the
        mapping's marker goes, so a later upstream login does not take it away."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(table)
                .where(*where, table.c.federation_provider.is_not(None))
                .values(federation_provider=None)
            )
        return result.rowcount > 0

    async def _insert(self, table: object, conflict: str, **values: object) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(table).values(**values))  # type: ignore[arg-type]
        except IntegrityError:
            raise AccessError(conflict) from None
