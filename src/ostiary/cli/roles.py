"""ostiary role create | list | assign | unassign | delete"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, listing, reply
from ostiary.domain import identifiers
from ostiary.domain.access import AccessError, Role
from ostiary.domain.users import User
from ostiary.services import Services

# Who the audit trail names for a change made on the command line (the admin API names
# "admin:<sub>"): every mutating command records the admin API's event type with it.
ACTOR = "cli"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("role", help="manage roles (RBAC)")
    cmds = parser.add_subparsers(dest="action", required=True)

    create = cmds.add_parser("create", help="create a role")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=create_role)

    list_ = cmds.add_parser("list", help="list roles")
    list_.add_argument("--json", action="store_true")
    list_.set_defaults(func=list_roles)

    for name, func, text in (
        ("assign", assign_role, "give a user a role"),
        ("unassign", unassign_role, "take a role from a user"),
    ):
        cmd = cmds.add_parser(name, help=text)
        cmd.add_argument("username", help="username or user id")
        cmd.add_argument("role")
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(func=func)

    delete = cmds.add_parser("delete", help="delete a role (users, groups and scopes lose it)")
    delete.add_argument("name")
    delete.add_argument("--json", action="store_true")
    delete.set_defaults(func=delete_role)


def role_view(role: Role) -> dict[str, Any]:
    return {"name": role.name, "description": role.description, "created_at": role.created_at}


def checked(rule: Callable[[str], str], value: str) -> str:
    """``value`` under the one rule of its field (domain.identifiers), a refusal in one line."""
    try:
        return rule(value)
    except identifiers.InvalidIdentifier as exc:
        raise CommandError(str(exc)) from None


async def require_user(services: Services, key: str) -> User:
    user = await services.store.users.find(key)
    if user is None:
        raise CommandError(f"no user {key!r}")
    return user


async def require_role(services: Services, name: str) -> Role:
    role = await services.store.access.get_role(name)
    if role is None:
        raise CommandError(f"no role {name!r}")
    return role


def create_role(args: argparse.Namespace) -> None:
    name = checked(identifiers.role_name, args.name)

    async def action(services: Services) -> None:
        try:
            role = await services.store.access.create_role(name, args.description)
        except AccessError as exc:
            raise CommandError(str(exc)) from None
        await services.audit.record("role.created", actor=ACTOR, details={"role": name})
        reply(args.json, role_view(role), f"created role {name}")

    run_with_services(action)


def list_roles(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [role_view(r) for r in await services.store.access.list_roles()]
        listing(args.json, rows, ["name", "description"])

    run_with_services(action)


def _assignment(args: argparse.Namespace, *, assign: bool) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        role = await require_role(services, args.role)
        access = services.store.access
        if assign:
            changed = await access.assign(user.id, role.name)
        else:
            changed = await access.unassign(user.id, role.name)
        if changed:
            await services.audit.record(
                "role.assigned" if assign else "role.unassigned",
                actor=ACTOR,
                user_id=user.id,
                details={"role": role.name},
            )
        if changed and assign:
            message = f"assigned role {role.name} to {user.username}"
        elif changed:
            message = f"took role {role.name} from {user.username}"
        elif assign:
            message = f"{user.username} has role {role.name} already"
        else:
            message = f"{user.username} does not have role {role.name} directly; nothing changed"
        key = "assigned" if assign else "unassigned"
        document = {"user_id": user.id, "username": user.username, "role": role.name, key: changed}
        reply(args.json, document, message)

    run_with_services(action)


def assign_role(args: argparse.Namespace) -> None:
    _assignment(args, assign=True)


def unassign_role(args: argparse.Namespace) -> None:
    _assignment(args, assign=False)


def delete_role(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        access = services.store.access
        await require_role(services, args.name)
        # Fail closed: a scope that lost its gate would be open to every user.
        gated = [s.name for s in await access.list_scopes() if args.name in s.required_roles]
        if gated:
            raise CommandError(
                f"role {args.name!r} gates scope(s) {', '.join(gated)}; change their roles "
                "first (ostiary scope update)"
            )
        try:
            deleted = await access.delete_role(args.name)
        except AccessError as exc:
            raise CommandError(str(exc)) from None
        if not deleted:
            raise CommandError(f"no role {args.name!r}")
        await services.audit.record("role.deleted", actor=ACTOR, details={"role": args.name})
        reply(args.json, {"name": args.name, "deleted": True}, f"deleted role {args.name}")

    run_with_services(action)
