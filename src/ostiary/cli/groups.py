"""ostiary group create | update | list | show | add-member | remove-member | grant-role
| revoke-role | nest | unnest | delete"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from ostiary.cli.commands import Subcommands, command
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, listing, reply, required
from ostiary.cli.roles import (
    ACTOR,
    access_change,
    changed_views,
    checked,
    linked,
    require_mfa_option,
    require_role,
    require_user,
)
from ostiary.domain import identifiers
from ostiary.domain.access import AccessError, Group
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries


def add_parser(sub: Subcommands) -> None:
    parser = sub.add_parser("group", help="manage groups of users (nested, with roles)")
    cmds = parser.add_subparsers(dest="action", required=True)
    group, user = "group:group name or id", "username:username or user id"
    members = "the members of the group and of the groups nested in it"

    def create(cmd: argparse.ArgumentParser) -> None:
        require_mfa_option(cmd, members, default=False)

    def update(cmd: argparse.ArgumentParser) -> None:
        require_mfa_option(cmd, members, default=None)

    command(cmds, "create", create_group, "create a group", "name:the group's name", options=create)
    command(cmds, "update", update_group, "change a group's MFA policy", group, options=update)
    command(cmds, "list", list_groups, "list groups")
    command(cmds, "show", show_group, "show a group: members, roles, parents, subgroups", group)
    command(cmds, "add-member", add_member, "put a user in a group", group, user)
    command(cmds, "remove-member", remove_member, "take a user out of a group", group, user)
    command(cmds, "grant-role", grant_role, "give every member of a group a role", group, "role:")
    command(cmds, "revoke-role", revoke_role, "take a role from a group", group, "role:")
    command(
        cmds,
        "nest",
        nest,
        "make CHILD a subgroup of PARENT: CHILD's members get PARENT's roles",
        "child:group name or id",
        "parent:group name or id",
    )
    command(
        cmds, "unnest", unnest, "undo nest", "child:group name or id", "parent:group name or id"
    )
    command(cmds, "delete", delete_group, "delete a group", group)


def group_view(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "external_id": group.external_id,
        "require_mfa": group.require_mfa,
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }


async def require_group(services: Services, key: str) -> Group:
    return required(await services.store.access.get_group(key), f"group {key!r}")


def create_group(args: argparse.Namespace) -> None:
    name = checked(identifiers.group_name, args.name)

    async def action(services: Services) -> None:
        creation = services.store.access.create_group(name, require_mfa=args.require_mfa)
        group = await access_change(creation)
        details = {"group": name, "group_id": group.id, "require_mfa": group.require_mfa}
        await services.audit.record("group.created", actor=ACTOR, details=details)
        reply(args.json, group_view(group), f"created group {name} ({group.id})")

    run_with_services(action)


def update_group(args: argparse.Namespace) -> None:
    if args.require_mfa is None:
        raise CommandError("nothing to change: give --require-mfa or --no-require-mfa")

    async def action(services: Services) -> None:
        group = await require_group(services, args.group)
        before, after = group_view(group), group_view(group)
        if group.require_mfa != args.require_mfa:
            changed = await services.store.access.update_group(
                group.id, require_mfa=args.require_mfa
            )
            after = group_view(required(changed, f"group {args.group!r}"))
        details = changed_views(before, after)
        if details is not None:
            await services.audit.record(
                "group.updated",
                actor=ACTOR,
                details={"group": group.name, "group_id": group.id, **details},
            )
        message = f"updated group {group.name}" if details else "nothing changed"
        reply(args.json, after, message)

    run_with_services(action)


def list_groups(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [group_view(g) for g in await services.store.access.list_groups()]
        listing(args.json, rows, ["id", "name", "require_mfa", "external_id"])

    run_with_services(action)


def show_group(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        access = services.store.access
        group = await require_group(services, args.group)
        members = []
        for user_id in await access.members(group.id):
            user = await services.store.users.get(user_id)
            members.append({"id": user_id, "username": user.username if user else None})
        parent_ids, child_ids = await queries.group_links(services.engine, group.id)
        document = {
            **group_view(group),
            "members": members,
            "roles": await access.group_role_names(group.id),
            "parents": await _names(services, parent_ids),
            "children": await _names(services, child_ids),
        }
        if args.json:
            emit_json(document)
            return
        for key in ("id", "name", "external_id", "require_mfa"):
            print(f"{key}: {document[key]}")
        print(f"roles: {' '.join(document['roles'])}")
        print(f"members: {' '.join(str(m['username']) for m in members)}")
        print(f"inside: {' '.join(document['parents'])}")
        print(f"subgroups: {' '.join(document['children'])}")

    run_with_services(action)


async def _names(services: Services, group_ids: list[str]) -> list[str]:
    found = [await services.store.access.get_group(group_id) for group_id in group_ids]
    return sorted(g.name for g in found if g is not None)


def _membership(args: argparse.Namespace, *, add: bool) -> None:
    async def action(services: Services) -> None:
        group = await require_group(services, args.group)
        user = await require_user(services, args.username)
        access = services.store.access
        changed = await (access.add_member if add else access.remove_member)(group.id, user.id)
        key = "added" if add else "removed"
        state = "is in" if add else "is not in"
        messages = (
            f"{key} {user.username} {'to' if add else 'from'} group {group.name}",
            f"{user.username} {state} group {group.name} already; nothing changed",
        )
        document = {
            "group": group.name,
            "group_id": group.id,
            "user_id": user.id,
            "username": user.username,
            key: changed,
        }
        event, details = f"group.member_{key}", {"group": group.name, "group_id": group.id}
        await linked(
            services, args, changed, event, document, messages, details=details, user_id=user.id
        )

    run_with_services(action)


add_member = functools.partial(_membership, add=True)
remove_member = functools.partial(_membership, add=False)


def _group_role(args: argparse.Namespace, *, grant: bool) -> None:
    async def action(services: Services) -> None:
        group = await require_group(services, args.group)
        role = await require_role(services, args.role)
        access = services.store.access
        change = access.grant_group_role if grant else access.revoke_group_role
        changed = await change(group.id, role.name)
        key = "granted" if grant else "revoked"
        state = "has" if grant else "does not have"
        messages = (
            f"{key} role {role.name} {'to' if grant else 'from'} group {group.name}",
            f"group {group.name} {state} role {role.name} already; nothing changed",
        )
        document = {"group": group.name, "group_id": group.id, "role": role.name, key: changed}
        event = f"group.role_{key}"
        details = {"group": group.name, "group_id": group.id, "role": role.name}
        await linked(services, args, changed, event, document, messages, details=details)

    run_with_services(action)


grant_role = functools.partial(_group_role, grant=True)
revoke_role = functools.partial(_group_role, grant=False)


def nest(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        child = await require_group(services, args.child)
        parent = await require_group(services, args.parent)
        try:
            await services.store.access.nest(child.id, parent.id)
        except AccessError as exc:
            raise CommandError(f"cannot nest {child.name} in {parent.name}: {exc}") from None
        await _record_nesting(services, "group.nested", child, parent)
        message = f"group {child.name} is now inside group {parent.name}"
        reply(args.json, _nesting(child, parent, nested=True), message)

    run_with_services(action)


def unnest(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        child = await require_group(services, args.child)
        parent = await require_group(services, args.parent)
        changed = await services.store.access.unnest(child.id, parent.id)
        if changed:
            await _record_nesting(services, "group.unnested", child, parent)
            message = f"group {child.name} is no longer inside group {parent.name}"
        else:
            message = f"group {child.name} was not inside group {parent.name}; nothing changed"
        reply(args.json, _nesting(child, parent, unnested=changed), message)

    run_with_services(action)


def _nesting(child: Group, parent: Group, **outcome: bool) -> dict[str, Any]:
    return {
        "child": child.name,
        "child_id": child.id,
        "parent": parent.name,
        "parent_id": parent.id,
        **outcome,
    }


async def _record_nesting(services: Services, type: str, child: Group, parent: Group) -> None:
    details = {"group_id": child.id, "parent_id": parent.id, "parent": parent.name}
    await services.audit.record(type, actor=ACTOR, details=details)


def delete_group(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        group = await require_group(services, args.group)
        if not await services.store.access.delete_group(group.id):
            raise CommandError(f"no group {args.group!r}")
        await services.audit.record(
            "group.deleted", actor=ACTOR, details={"group": group.name, "group_id": group.id}
        )
        reply(
            args.json,
            {"id": group.id, "name": group.name, "deleted": True},
            f"deleted group {group.name}",
        )

    run_with_services(action)
