"""Roles, groups (nested) and scopes: who may be granted what (RBAC).

``requirements`` runs on the driver connection: every authorization asks which of its
scopes a role gates (speed); everything else is SQLAlchemy Core.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, Table, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary import clock
from ostiary.domain.access import AccessError, Effective, Group, Role, Scope
from ostiary.storage.repos._base import Repository, RowType, column_set
from ostiary.storage.repos._driver import json_text
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

# The names as one JSON array parameter (one statement text per dialect).
_REQUIREMENTS = {
    True: "SELECT scope, role FROM scope_roles"
    " WHERE scope IN (SELECT json_array_elements_text($1::json))",
    False: "SELECT scope, role FROM scope_roles WHERE scope IN (SELECT value FROM json_each($1))",
}

ROLE = RowType.of(roles, Role)
GROUP = RowType.of(groups, Group)


class AccessRepository(Repository):
    # -- roles ---------------------------------------------------------------------------

    async def create_role(
        self, name: str, description: str = "", *, require_mfa: bool = False
    ) -> Role:
        role = Role(name, description, clock.now(), require_mfa)
        await self._insert(roles, ROLE.values(role), lambda: AccessError(f"role {name!r} exists"))
        return role

    async def update_role(
        self, name: str, *, description: str | None = None, require_mfa: bool | None = None
    ) -> Role | None:
        changes = _given_values(description=description, require_mfa=require_mfa)
        if changes:
            await self._write(update(roles).where(roles.c.name == name).values(**changes))
        return await self.get_role(name)

    async def list_roles(self) -> list[Role]:
        return ROLE.all(await self._rows(ROLE.select().order_by(roles.c.name)))

    async def get_role(self, name: str) -> Role | None:
        row = await self._first(ROLE.select().where(roles.c.name == name))
        return ROLE.build(row) if row else None

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
        """True if newly assigned (or made manual: see ``_given``), False if the user had
        it already."""
        await self._require_role(role)
        return await self._given(user_roles, user_id=user_id, role=role)

    async def unassign(self, user_id: str, role: str) -> bool:
        return await self._unlink(user_roles, user_id=user_id, role=role)

    async def direct_roles(self, user_id: str) -> list[str]:
        return await self._sorted(select(user_roles.c.role).where(user_roles.c.user_id == user_id))

    # -- groups --------------------------------------------------------------------------

    async def create_group(
        self,
        name: str,
        external_id: str | None = None,
        *,
        group_id: str | None = None,
        require_mfa: bool = False,
    ) -> Group:
        """A new group; ``group_id`` is chosen only when an import restores one."""
        now = clock.now()
        group = Group(group_id or str(uuid.uuid4()), name, external_id, now, now, require_mfa)
        await self._insert(
            groups, GROUP.values(group), lambda: AccessError(f"group {name!r} exists")
        )
        return group

    async def get_group(self, key: str) -> Group | None:
        """By id or by name."""
        row = await self._first(GROUP.select().where((groups.c.id == key) | (groups.c.name == key)))
        return GROUP.build(row) if row else None

    async def list_groups(self) -> list[Group]:
        return GROUP.all(await self._rows(GROUP.select().order_by(groups.c.name)))

    async def rename_group(self, group_id: str, name: str) -> None:
        await self._write(
            update(groups).where(groups.c.id == group_id).values(name=name, updated_at=clock.now())
        )

    async def update_group(self, group_id: str, *, require_mfa: bool) -> Group | None:
        await self._write(
            update(groups)
            .where(groups.c.id == group_id)
            .values(require_mfa=require_mfa, updated_at=clock.now())
        )
        row = await self._first(GROUP.select().where(groups.c.id == group_id))
        return GROUP.build(row) if row else None

    async def delete_group(self, group_id: str) -> bool:
        return await self._write(delete(groups).where(groups.c.id == group_id)) > 0

    async def add_member(self, group_id: str, user_id: str) -> bool:
        return await self._given(group_members, group_id=group_id, user_id=user_id)

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        return await self._unlink(group_members, group_id=group_id, user_id=user_id)

    async def members(self, group_id: str) -> list[str]:
        return await self._sorted(
            select(group_members.c.user_id).where(group_members.c.group_id == group_id)
        )

    async def grant_group_role(self, group_id: str, role: str) -> bool:
        await self._require_role(role)
        return await self._insert(group_roles, {"group_id": group_id, "role": role})

    async def revoke_group_role(self, group_id: str, role: str) -> bool:
        return await self._unlink(group_roles, group_id=group_id, role=role)

    async def group_role_names(self, group_id: str) -> list[str]:
        return await self._sorted(
            select(group_roles.c.role).where(group_roles.c.group_id == group_id)
        )

    async def nest(self, child_id: str, parent_id: str) -> None:
        """Make ``child`` a subgroup of ``parent``; refuses cycles."""
        if child_id == parent_id or child_id in await self._ancestors([parent_id]):
            raise AccessError("that nesting would make a cycle")
        await self._insert(group_parents, {"child_id": child_id, "parent_id": parent_id})

    async def unnest(self, child_id: str, parent_id: str) -> bool:
        return await self._unlink(group_parents, child_id=child_id, parent_id=parent_id)

    async def _ancestors(self, group_ids: Iterable[str]) -> set[str]:
        """The groups above these, following parent links breadth first (bounded depth)."""
        found: set[str] = set()
        frontier = set(group_ids)
        async with self._engine.connect() as conn:
            # No depth limit: nesting refuses cycles, and `found` stops any loop anyway.
            while frontier:
                parents = select(group_parents.c.parent_id).where(
                    group_parents.c.child_id.in_(frontier)
                )
                frontier = await column_set(conn, parents) - found - set(group_ids)
                found |= frontier
        return found

    # -- effective access ----------------------------------------------------------------

    async def effective(self, user_id: str) -> Effective:
        async with self._engine.connect() as conn:
            direct_groups = await column_set(
                conn, select(group_members.c.group_id).where(group_members.c.user_id == user_id)
            )
        all_groups = direct_groups | await self._ancestors(direct_groups)
        async with self._engine.connect() as conn:
            held_roles = await column_set(
                conn, select(user_roles.c.role).where(user_roles.c.user_id == user_id)
            )
            names: set[str] = set()
            if all_groups:
                held_roles |= await column_set(
                    conn, select(group_roles.c.role).where(group_roles.c.group_id.in_(all_groups))
                )
                names = await column_set(
                    conn, select(groups.c.name).where(groups.c.id.in_(all_groups))
                )
        return Effective(frozenset(held_roles), frozenset(names))

    async def mfa_required_by(self, user_id: str) -> list[str]:
        held = await self.effective(user_id)
        if not held.roles and not held.groups:
            return []
        # One statement for both kinds, whatever the number of roles and groups.
        marked = (
            select(literal("role"), roles.c.name)
            .where(roles.c.require_mfa.is_(True), roles.c.name.in_(held.roles))
            .union_all(
                select(literal("group"), groups.c.name).where(
                    groups.c.require_mfa.is_(True), groups.c.name.in_(held.groups)
                )
            )
        )
        return sorted(f"{kind}:{name}" for kind, name in await self._rows(marked))

    # -- scopes --------------------------------------------------------------------------

    async def create_scope(
        self, name: str, *, description: str = "", required_roles: Iterable[str] = ()
    ) -> Scope:
        required = await self._existing_roles(required_roles)
        now = clock.now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(scopes).values(name=name, description=description, created_at=now)
                )
                await _gate(conn, name, required)
        except IntegrityError:
            raise AccessError(f"scope {name!r} exists") from None
        return Scope(name, description, tuple(required), now)

    async def set_scope_roles(self, name: str, required_roles: Iterable[str]) -> None:
        required = await self._existing_roles(required_roles)
        async with self._engine.begin() as conn:
            await conn.execute(delete(scope_roles).where(scope_roles.c.scope == name))
            await _gate(conn, name, required)

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
        return await self._write(delete(scopes).where(scopes.c.name == name)) > 0

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

    async def _existing_roles(self, roles: Iterable[str]) -> list[str]:
        """The distinct roles, sorted; ``AccessError`` if one does not exist."""
        required = sorted(set(roles))
        for role in required:
            await self._require_role(role)
        return required

    async def _unlink(self, table: Table, **key: str) -> bool:
        return await self._write(delete(table).where(*_is(table, key))) > 0

    async def _given(self, table: Table, **key: str) -> bool:
        """Link by hand: True if newly linked, or if a federation claim mapping had made
        the link (it becomes manual: the mapping's marker goes, so a later upstream login
        does not take it away); False if it was given by hand already."""
        if await self._insert(table, key):
            return True
        claim = (
            update(table)
            .where(*_is(table, key), table.c.federation_provider.is_not(None))
            .values(federation_provider=None)
        )
        return await self._write(claim) > 0


def _given_values(**values: object) -> dict[str, object]:
    """The changes a caller gave (None: keep the stored value)."""
    return {name: value for name, value in values.items() if value is not None}


def _is(table: Table, key: dict[str, str]) -> list[ColumnElement[bool]]:
    return [table.c[name] == value for name, value in key.items()]


async def _gate(conn: AsyncConnection, scope: str, required: list[str]) -> None:
    """Gate ``scope`` behind the ``required`` roles (none: open to everyone)."""
    if required:
        await conn.execute(insert(scope_roles), [{"scope": scope, "role": r} for r in required])
