"""Roles, scopes and groups in a state document (RBAC), with the admin API's rules.

A scope gated by roles is granted only to users holding one, and an unregistered scope
is open to everyone: so, as in the admin API, no import deletes a gated scope or a role
that still gates one (fail closed), and the admin API's own scopes stay gated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE
from ostiary.domain.access import MAX_GROUP_DEPTH, Group
from ostiary.portable.entries import group_entry, role_entry, scope_entry
from ostiary.portable.plan import Phase, Planning, differences
from ostiary.portable.snapshot import GroupState
from ostiary.storage.queries import admin_views as queries


def plan_roles(p: Planning) -> None:
    given = p.doc.roles
    if given is None:
        return
    access = p.services.store.access
    for _, entry in p.unique("roles", given, lambda e: e.name):
        wanted = {
            "name": entry.name,
            "description": entry.description,
            "require_mfa": entry.require_mfa,
        }
        current = p.now.roles.get(entry.name)
        if current is None:

            async def create(wanted: dict[str, Any] = wanted) -> None:
                await access.create_role(
                    wanted["name"], wanted["description"], require_mfa=wanted["require_mfa"]
                )
                await p.record("role.created", details={"after": wanted})

            p.add(Phase.ROLES, "create", "role", entry.name, create)
        elif changed := differences(role_entry(current), wanted):

            async def change(wanted: dict[str, Any] = wanted, changed: list[str] = changed) -> None:
                before = role_entry(p.now.roles[wanted["name"]])
                await access.update_role(
                    wanted["name"],
                    description=wanted["description"],
                    require_mfa=wanted["require_mfa"],
                )
                await p.record(
                    "role.updated",
                    details={
                        "name": wanted["name"],
                        "before": {k: before[k] for k in changed},
                        "after": {k: wanted[k] for k in changed},
                    },
                )

            p.add(Phase.ROLES, "update", "role", entry.name, change, ", ".join(changed))
    gates = _final_gates(p)
    _prune(
        p,
        "role",
        Phase.PRUNE_ROLES,
        p.pruned("roles", set(p.now.roles), {r.name for r in given}),
        lambda name: sorted(scope for scope, required in gates.items() if name in required),
        "gates scope(s) {}, which stay: pruning it would open them to every user",
        access.delete_role,
        lambda name: role_entry(p.now.roles[name]),
    )


def _final_gates(p: Planning) -> dict[str, set[str]]:
    """Scope -> required roles once the document is applied."""
    gates = {s.name: set(s.required_roles) for s in p.now.scopes.values()}
    if p.doc.scopes is not None:
        if p.prune:
            gates = {}
        gates.update({s.name: set(s.required_roles) for s in p.doc.scopes})
    return gates


def plan_scopes(p: Planning) -> None:
    given = p.doc.scopes
    if given is None:
        return
    access = p.services.store.access
    roles = p.final_names("roles")
    for index, entry in p.unique("scopes", given, lambda e: e.name):
        required = sorted(set(entry.required_roles))
        missing = [r for r in required if r not in roles]
        if missing:
            p.problem("scopes", index, entry.name, f"role {missing[0]!r} does not exist")
            continue
        wanted = {"name": entry.name, "description": entry.description, "required_roles": required}
        current = p.now.scopes.get(entry.name)
        if current is None:

            async def create(wanted: dict[str, Any] = wanted) -> None:
                await access.create_scope(
                    wanted["name"],
                    description=wanted["description"],
                    required_roles=wanted["required_roles"],
                )
                await p.record("scope.created", details={"after": wanted})

            p.add(Phase.SCOPES, "create", "scope", entry.name, create)
            continue
        before = scope_entry(current)
        changed = differences(before, wanted)
        if (
            "required_roles" in changed
            and entry.name in (ADMIN_SCOPE, ADMIN_READ_SCOPE)
            and not required
        ):
            p.problem("scopes", index, entry.name, "must stay gated by a role")
            continue
        if changed:

            async def change(
                wanted: dict[str, Any] = wanted,
                before: dict[str, Any] = before,
                changed: list[str] = changed,
            ) -> None:
                if "required_roles" in changed:
                    await access.set_scope_roles(wanted["name"], wanted["required_roles"])
                if "description" in changed:
                    await queries.set_scope_description(
                        p.services.engine, wanted["name"], wanted["description"]
                    )
                await p.record("scope.updated", details={"before": before, "after": wanted})

            p.add(Phase.SCOPES, "update", "scope", entry.name, change, ", ".join(changed))

    _prune(
        p,
        "scope",
        Phase.PRUNE_SCOPES,
        p.pruned("scopes", set(p.now.scopes), {s.name for s in given}),
        lambda name: p.now.scopes[name].required_roles,
        "is gated by {}: pruning it would open it to every user; import it with "
        "required_roles [] first",
        access.delete_scope,
        lambda name: scope_entry(p.now.scopes[name]),
    )


def _prune(
    p: Planning,
    kind: str,
    phase: Phase,
    names: Iterable[str],
    blocked_by: Callable[[str], Sequence[str]],
    why: str,
    remove: Callable[[str], Awaitable[object]],
    entry: Callable[[str], dict[str, Any]],
) -> None:
    """Plan deleting each of ``names`` (left out of the file), unless something it gates or
    is gated by must keep it (fail closed): then a problem saying ``why``, with them."""
    for name in names:
        if blockers := blocked_by(name):
            reason = why.format(", ".join(blockers))
            p.problems.append(f"{kind}s: {name!r} is not in the file but {reason}")
            continue

        async def delete(name: str = name) -> None:
            await remove(name)
            await p.record(f"{kind}.deleted", details={"before": entry(name)})

        p.add(phase, "delete", kind, name, delete)


def plan_groups(p: Planning) -> None:
    given = p.doc.groups
    if given is None:
        return
    roles, groups = p.final_names("roles"), p.final_names("groups")
    ids = {g.group.id: name for name, g in p.now.groups.items()}
    for index, entry in p.unique("groups", given, lambda e: e.name):
        unknown = [r for r in entry.roles if r not in roles]
        outside = [g for g in entry.parents if g not in groups]
        owner = ids.get(entry.id or "")
        if unknown:
            problem = f"role {unknown[0]!r} does not exist"
        elif outside:
            problem = f"parent group {outside[0]!r} does not exist"
        elif owner is not None and owner != entry.name:
            problem = f"id {entry.id} belongs to group {owner!r} here (groups are matched by name)"
        else:
            problem = ""
        if problem:
            p.problem("groups", index, entry.name, problem)
            continue
        wanted = {
            "id": entry.id,
            "name": entry.name,
            "external_id": entry.external_id,
            "require_mfa": entry.require_mfa,
            "parents": sorted(set(entry.parents)),
            "roles": sorted(set(entry.roles)),
        }
        _plan_group(p, wanted, p.now.groups.get(entry.name))
    _check_nesting(p, given)
    for name in p.pruned("groups", set(p.now.groups), {g.name for g in given}):

        async def delete(name: str = name) -> None:
            await p.services.store.access.delete_group(p.now.groups[name].group.id)
            await p.record("group.deleted", details={"before": group_entry(p.now.groups[name])})

        p.add(Phase.PRUNE_GROUPS, "delete", "group", name, delete)


def _plan_group(p: Planning, wanted: dict[str, Any], current: GroupState | None) -> None:
    access = p.services.store.access
    name = wanted["name"]
    if current is None:

        async def create() -> None:
            group = await access.create_group(
                name,
                wanted["external_id"],
                group_id=wanted["id"],
                require_mfa=wanted["require_mfa"],
            )
            after = {"id": group.id, "name": name, "external_id": group.external_id}
            await p.record(
                "group.created", details={"after": {**after, "require_mfa": group.require_mfa}}
            )

        p.add(Phase.GROUPS, "create", "group", name, create)
        before: dict[str, Any] = {
            "external_id": wanted["external_id"],
            "require_mfa": wanted["require_mfa"],
            "parents": [],
            "roles": [],
        }
    else:
        before = group_entry(current)
        for member in ("external_id", "require_mfa"):
            if before[member] != wanted[member]:
                run = _set_group_member(p, name, member, before[member], wanted[member])
                p.add(Phase.GROUPS, "update", "group", name, run, member)
    for role in sorted(set(wanted["roles"]) ^ set(before["roles"])):
        granting = role in wanted["roles"]

        async def grant(role: str = role, granting: bool = granting) -> None:
            group = await _group(p, name)
            if granting:
                await access.grant_group_role(group.id, role)
            else:
                await access.revoke_group_role(group.id, role)
            kind = "group.role_granted" if granting else "group.role_revoked"
            await p.record(kind, details={"group_id": group.id, "group": name, "role": role})

        detail = f"{'grant' if granting else 'revoke'} role {role}"
        p.add(Phase.GROUPS, "update", "group", name, grant, detail)
    for parent in sorted(set(wanted["parents"]) ^ set(before["parents"])):
        nesting = parent in wanted["parents"]

        async def nest(parent: str = parent, nesting: bool = nesting) -> None:
            group, above = await _group(p, name), await _group(p, parent)
            if nesting:
                await access.nest(group.id, above.id)
            else:
                await access.unnest(group.id, above.id)
            kind = "group.nested" if nesting else "group.unnested"
            await p.record(
                kind, details={"group_id": group.id, "group": name, "parent_id": above.id}
            )

        # Links go before any is added, so no intermediate state loops.
        phase = Phase.NESTING if nesting else Phase.GROUPS
        detail = f"{'nest in' if nesting else 'take out of'} {parent}"
        p.add(phase, "update", "group", name, nest, detail)


def _set_group_member(
    p: Planning, name: str, member: str, before: Any, after: Any
) -> Callable[[], Awaitable[None]]:
    """Set one of the group's own members (``external_id`` or ``require_mfa``), audited."""

    async def run() -> None:
        group = await _group(p, name)
        if member == "external_id":
            await queries.set_group_external_id(p.services.engine, group.id, after)
        else:
            await p.services.store.access.update_group(group.id, require_mfa=after)
        await p.record(
            "group.updated",
            details={"group_id": group.id, "before": {member: before}, "after": {member: after}},
        )

    return run


async def _group(p: Planning, name: str) -> Group:
    group = await p.services.store.access.get_group(name)
    if group is None:
        raise LookupError(f"group {name!r} is gone")
    return group


def _check_nesting(p: Planning, given: list[Any]) -> None:
    """The nesting the import leaves must have no cycle and no chain longer than the admin
    API lets one build (MAX_GROUP_DEPTH), so every role lookup stays a few queries."""
    parents = {name: set(g.parents) for name, g in p.now.groups.items()}
    if p.prune:
        parents = {}
    parents.update({g.name: set(g.parents) for g in given})
    longest: dict[str, int] = {}

    def height(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            raise ValueError(" -> ".join((*path, name)))
        if name not in longest:
            longest[name] = max(
                (1 + height(up, (*path, name)) for up in parents.get(name, ()) if up in parents),
                default=0,
            )
        return longest[name]

    for name in sorted(parents):
        try:
            levels = height(name, ())
        except ValueError as exc:
            p.problems.append(f"groups: the nesting would make a cycle: {exc}")
            return
        if levels > MAX_GROUP_DEPTH:
            p.problems.append(
                f"groups: {name!r} would sit {levels} levels deep (at most {MAX_GROUP_DEPTH})"
            )
            return
