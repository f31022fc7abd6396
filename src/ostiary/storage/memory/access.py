"""Roles, nested groups and role-gated scopes in memory, with the SQL foreign keys' rules."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

from ostiary import clock
from ostiary.domain.access import AccessError, Effective, Group, Role, Scope
from ostiary.storage.memory.tables import Tables


class MemoryAccess:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    # -- roles ---------------------------------------------------------------------------

    async def create_role(
        self, name: str, description: str = "", *, require_mfa: bool = False
    ) -> Role:
        if name in self._t.roles:
            raise AccessError(f"role {name!r} exists")
        role = self._t.roles[name] = Role(name, description, clock.now(), require_mfa)
        return role

    async def update_role(
        self, name: str, *, description: str | None = None, require_mfa: bool | None = None
    ) -> Role | None:
        role = self._t.roles.get(name)
        if role is None:
            return None
        role = self._t.roles[name] = dataclasses.replace(
            role,
            description=role.description if description is None else description,
            require_mfa=role.require_mfa if require_mfa is None else require_mfa,
        )
        return role

    async def list_roles(self) -> list[Role]:
        return sorted(self._t.roles.values(), key=lambda r: r.name)

    async def get_role(self, name: str) -> Role | None:
        return self._t.roles.get(name)

    async def delete_role(self, name: str) -> bool:
        t = self._t
        gated = sorted(scope for scope, role in t.scope_roles if role == name)
        if gated:
            # Dropping the gate would open the scope to every user: fail closed.
            raise AccessError(f"role {name!r} gates scope(s) {', '.join(gated)}; change them first")
        if t.roles.pop(name, None) is None:
            return False
        t.user_roles = {k: v for k, v in t.user_roles.items() if k[1] != name}
        t.group_roles = {pair for pair in t.group_roles if pair[1] != name}
        return True

    async def assign(self, user_id: str, role: str) -> bool:
        self._require_role(role)
        if user_id not in self._t.users:
            return False
        return _link(self._t.user_roles, (user_id, role))

    async def unassign(self, user_id: str, role: str) -> bool:
        return _unlink(self._t.user_roles, (user_id, role))

    async def direct_roles(self, user_id: str) -> list[str]:
        return sorted(role for user, role in self._t.user_roles if user == user_id)

    # -- groups --------------------------------------------------------------------------

    async def create_group(
        self,
        name: str,
        external_id: str | None = None,
        *,
        group_id: str | None = None,
        require_mfa: bool = False,
    ) -> Group:
        chosen = group_id or str(uuid.uuid4())
        if chosen in self._t.groups or self._named(name) is not None:
            raise AccessError(f"group {name!r} exists")
        now = clock.now()
        group = Group(chosen, name, external_id, now, now, require_mfa)
        self._t.groups[chosen] = group
        return group

    async def get_group(self, key: str) -> Group | None:
        return self._t.groups.get(key) or self._named(key)

    async def list_groups(self) -> list[Group]:
        return sorted(self._t.groups.values(), key=lambda g: g.name)

    async def rename_group(self, group_id: str, name: str) -> None:
        group = self._t.groups.get(group_id)
        if group is None:
            return
        other = self._named(name)
        if other is not None and other.id != group_id:
            raise AccessError(f"group {name!r} exists")
        self._t.groups[group_id] = dataclasses.replace(group, name=name, updated_at=clock.now())

    async def update_group(self, group_id: str, *, require_mfa: bool) -> Group | None:
        group = self._t.groups.get(group_id)
        if group is not None:
            group = dataclasses.replace(group, require_mfa=require_mfa, updated_at=clock.now())
            self._t.groups[group_id] = group
        return group

    async def delete_group(self, group_id: str) -> bool:
        t = self._t
        if t.groups.pop(group_id, None) is None:
            return False
        t.group_members = {k: v for k, v in t.group_members.items() if k[0] != group_id}
        t.group_roles = {pair for pair in t.group_roles if pair[0] != group_id}
        t.group_parents = {pair for pair in t.group_parents if group_id not in pair}
        return True

    async def add_member(self, group_id: str, user_id: str) -> bool:
        if group_id not in self._t.groups or user_id not in self._t.users:
            return False
        return _link(self._t.group_members, (group_id, user_id))

    async def remove_member(self, group_id: str, user_id: str) -> bool:
        return _unlink(self._t.group_members, (group_id, user_id))

    async def members(self, group_id: str) -> list[str]:
        return sorted(user for group, user in self._t.group_members if group == group_id)

    async def grant_group_role(self, group_id: str, role: str) -> bool:
        self._require_role(role)
        pair = (group_id, role)
        if group_id not in self._t.groups or pair in self._t.group_roles:
            return False
        self._t.group_roles.add(pair)
        return True

    async def revoke_group_role(self, group_id: str, role: str) -> bool:
        pair = (group_id, role)
        found = pair in self._t.group_roles
        self._t.group_roles.discard(pair)
        return found

    async def group_role_names(self, group_id: str) -> list[str]:
        return sorted(role for group, role in self._t.group_roles if group == group_id)

    async def nest(self, child_id: str, parent_id: str) -> None:
        if child_id == parent_id or child_id in self._ancestors([parent_id]):
            raise AccessError("that nesting would make a cycle")
        if child_id in self._t.groups and parent_id in self._t.groups:
            self._t.group_parents.add((child_id, parent_id))

    async def unnest(self, child_id: str, parent_id: str) -> bool:
        pair = (child_id, parent_id)
        found = pair in self._t.group_parents
        self._t.group_parents.discard(pair)
        return found

    # -- effective access ----------------------------------------------------------------

    async def effective(self, user_id: str) -> Effective:
        t = self._t
        direct_groups = {group for group, user in t.group_members if user == user_id}
        groups = direct_groups | self._ancestors(direct_groups)
        roles = {role for user, role in t.user_roles if user == user_id}
        roles |= {role for group, role in t.group_roles if group in groups}
        names = {t.groups[g].name for g in groups if g in t.groups}
        return Effective(frozenset(roles), frozenset(names))

    async def mfa_required_by(self, user_id: str) -> list[str]:
        held, t = await self.effective(user_id), self._t
        marked = [
            f"role:{r.name}" for r in t.roles.values() if r.require_mfa and r.name in held.roles
        ]
        marked += [
            f"group:{g.name}" for g in t.groups.values() if g.require_mfa and g.name in held.groups
        ]
        return sorted(marked)

    # -- scopes --------------------------------------------------------------------------

    async def create_scope(
        self, name: str, *, description: str = "", required_roles: Iterable[str] = ()
    ) -> Scope:
        required = self._existing_roles(required_roles)
        if name in self._t.scopes:
            raise AccessError(f"scope {name!r} exists")
        scope = self._t.scopes[name] = Scope(name, description, (), clock.now())
        self._t.scope_roles |= {(name, role) for role in required}
        return dataclasses.replace(scope, required_roles=tuple(required))

    async def set_scope_roles(self, name: str, required_roles: Iterable[str]) -> None:
        required = self._existing_roles(required_roles)
        t = self._t
        t.scope_roles = {pair for pair in t.scope_roles if pair[0] != name}
        if name in t.scopes:
            t.scope_roles |= {(name, role) for role in required}

    async def list_scopes(self) -> list[Scope]:
        gates = self._t.gates(self._t.scopes)
        return [
            dataclasses.replace(s, required_roles=tuple(sorted(gates.get(s.name, ()))))
            for s in sorted(self._t.scopes.values(), key=lambda s: s.name)
        ]

    async def get_scope(self, name: str) -> Scope | None:
        return next((s for s in await self.list_scopes() if s.name == name), None)

    async def delete_scope(self, name: str) -> bool:
        t = self._t
        t.scope_roles = {pair for pair in t.scope_roles if pair[0] != name}
        return t.scopes.pop(name, None) is not None

    async def requirements(self, names: Iterable[str]) -> dict[str, frozenset[str]]:
        return self._t.gates(names)

    # -- helpers -------------------------------------------------------------------------

    def _require_role(self, role: str) -> None:
        if role not in self._t.roles:
            raise AccessError(f"no role {role!r}")

    def _existing_roles(self, roles: Iterable[str]) -> list[str]:
        """The distinct roles, sorted; ``AccessError`` if one does not exist."""
        required = sorted(set(roles))
        for role in required:
            self._require_role(role)
        return required

    def _named(self, name: str) -> Group | None:
        return next((g for g in self._t.groups.values() if g.name == name), None)

    def _ancestors(self, group_ids: Iterable[str]) -> set[str]:
        """The groups above these, following parent links (nesting refuses cycles)."""
        start = set(group_ids)
        found: set[str] = set()
        frontier = set(start)
        while frontier:
            parents = {p for c, p in self._t.group_parents if c in frontier}
            frontier = parents - found - start
            found |= frontier
        return found


def _link(links: dict[tuple[str, str], str | None], key: tuple[str, str]) -> bool:
    """Add a link given by hand: True if new, or if a federation claim mapping had made it
    (it becomes manual, so a later upstream login does not take it away)."""
    if key in links and links[key] is None:
        return False
    links[key] = None
    return True


def _unlink(links: dict[tuple[str, str], str | None], key: tuple[str, str]) -> bool:
    found = key in links
    links.pop(key, None)
    return found
