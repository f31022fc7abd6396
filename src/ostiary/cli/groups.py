"""ostiary group create | list | show | add-member | remove-member | grant-role | revoke-role
| nest | unnest | delete"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, listing, reply
from ostiary.cli.roles import ACTOR, checked, require_role, require_user
from ostiary.domain import identifiers
from ostiary.domain.access import AccessError, Group
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("group", help="manage groups of users (nested, with roles)")
    cmds = parser.add_subparsers(dest="action", required=True)

    def command(
        name: str, func: Callable[[argparse.Namespace], None], text: str, *args: str
    ) -> None:
        """A subcommand with positional ARGs given as "name:help", and --json."""
        cmd = cmds.add_parser(name, help=text)
        for arg, arg_help in (a.split(":", 1) for a in args):
            cmd.add_argument(arg, help=arg_help or None)
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(func=func)

    group, user = "group:group name or id", "username:username or user id"
    command("create", create_group, "create a group", "name:the group's name")
    command("list", list_groups, "list groups")
    command("show", show_group, "show a group: members, roles, parents, subgroups", group)
    command("add-member", add_member, "put a user in a group", group, user)
    command("remove-member", remove_member, "take a user out of a group", group, user)
    command("grant-role", grant_role, "give every member of a group a role", group, "role:")
    command("revoke-role", revoke_role, "take a role from a group", group, "role:")
    command(
        "nest",
        nest,
        "make CHILD a subgroup of PARENT: CHILD's members get PARENT's roles",
        "child:group name or id",
        "parent:group name or id",
    )
    command("unnest", unnest, "undo nest", "child:group name or id", "parent:group name or id")
    command("delete", delete_group, "delete a group", group)


def group_view(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "external_id": group.external_id,
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }


async def require_group(services: Services, key: str) -> Group:
    group = await services.store.access.get_group(key)
    if group is None:
        raise CommandError(f"no group {key!r}")
    return group


def create_group(args: argparse.Namespace) -> None:
    name = checked(identifiers.group_name, args.name)

    async def action(services: Services) -> None:
        try:
            group = await services.store.access.create_group(name)
        except AccessError as exc:
            raise CommandError(str(exc)) from None
        await services.audit.record(
            "group.created", actor=ACTOR, details={"group": name, "group_id": group.id}
        )
        reply(args.json, group_view(group), f"created group {name} ({group.id})")

    run_with_services(action)


def list_groups(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [group_view(g) for g in await services.store.access.list_groups()]
        listing(args.json, rows, ["id", "name", "external_id"])

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
        for key in ("id", "name", "external_id"):
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
        if add:
            changed = await access.add_member(group.id, user.id)
        else:
            changed = await access.remove_member(group.id, user.id)
        if changed:
            await services.audit.record(
                "group.member_added" if add else "group.member_removed",
                actor=ACTOR,
                user_id=user.id,
                details={"group": group.name, "group_id": group.id},
            )
        key = "added" if add else "removed"
        if changed:
            message = f"{key} {user.username} {'to' if add else 'from'} group {group.name}"
        else:
            state = "is in" if add else "is not in"
            message = f"{user.username} {state} group {group.name} already; nothing changed"
        document = {
            "group": group.name,
            "group_id": group.id,
            "user_id": user.id,
            "username": user.username,
            key: changed,
        }
        reply(args.json, document, message)

    run_with_services(action)


def add_member(args: argparse.Namespace) -> None:
    _membership(args, add=True)


def remove_member(args: argparse.Namespace) -> None:
    _membership(args, add=False)


def _group_role(args: argparse.Namespace, *, grant: bool) -> None:
    async def action(services: Services) -> None:
        group = await require_group(services, args.group)
        role = await require_role(services, args.role)
        access = services.store.access
        if grant:
            changed = await access.grant_group_role(group.id, role.name)
        else:
            changed = await access.revoke_group_role(group.id, role.name)
        if changed:
            await services.audit.record(
                "group.role_granted" if grant else "group.role_revoked",
                actor=ACTOR,
                details={"group": group.name, "group_id": group.id, "role": role.name},
            )
        key = "granted" if grant else "revoked"
        if changed:
            message = f"{key} role {role.name} {'to' if grant else 'from'} group {group.name}"
        else:
            state = "has" if grant else "does not have"
            message = f"group {group.name} {state} role {role.name} already; nothing changed"
        document = {"group": group.name, "group_id": group.id, "role": role.name, key: changed}
        reply(args.json, document, message)

    run_with_services(action)


def grant_role(args: argparse.Namespace) -> None:
    _group_role(args, grant=True)


def revoke_role(args: argparse.Namespace) -> None:
    _group_role(args, grant=False)


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
