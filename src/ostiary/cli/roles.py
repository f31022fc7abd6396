"""ostiary role create | update | list | assign | unassign | delete"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ostiary.cli.commands import Subcommands, command
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, listing, reply, required
from ostiary.domain import identifiers
from ostiary.domain.access import AccessError, Role
from ostiary.domain.users import User
from ostiary.services import Services

# Who the audit trail names for a change made on the command line (the admin API names
# "admin:<sub>"): every mutating command records the admin API's event type with it.
ACTOR = "cli"
T = TypeVar("T")


def add_parser(sub: Subcommands) -> None:
    parser = sub.add_parser("role", help="manage roles (RBAC)")
    cmds = parser.add_subparsers(dest="action", required=True)

    def create(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--description", default="")
        require_mfa_option(cmd, "whoever holds the role", default=False)

    def update(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--description")
        require_mfa_option(cmd, "whoever holds the role", default=None)

    command(cmds, "create", create_role, "create a role", "name", options=create)
    text = "change a role's description or MFA policy"
    command(cmds, "update", update_role, text, "name", options=update)
    command(cmds, "list", list_roles, "list roles")
    user = "username:username or user id"
    command(cmds, "assign", assign_role, "give a user a role", user, "role")
    command(cmds, "unassign", unassign_role, "take a role from a user", user, "role")
    text = "delete a role (users, groups and scopes lose it)"
    command(cmds, "delete", delete_role, text, "name")


def require_mfa_option(cmd: argparse.ArgumentParser, who: str, *, default: bool | None) -> None:
    """--require-mfa / --no-require-mfa (None when left out of an update)."""
    cmd.add_argument(
        "--require-mfa",
        action=argparse.BooleanOptionalAction,
        default=default,
        help=f"a second factor at every sign-in for {who} (MFA policy)",
    )


def role_view(role: Role) -> dict[str, Any]:
    return {
        "name": role.name,
        "description": role.description,
        "require_mfa": role.require_mfa,
        "created_at": role.created_at,
    }


def changed_views(
    before: dict[str, Any], after: dict[str, Any]
) -> dict[str, dict[str, Any]] | None:
    """An update's audit details: the members that changed, before and after (None: no
    change, no event)."""
    changed = sorted(k for k in after if before.get(k) != after[k] and k != "updated_at")
    if not changed:
        return None
    return {"before": {k: before.get(k) for k in changed}, "after": {k: after[k] for k in changed}}


def checked(rule: Callable[[str], str], value: str) -> str:
    """``value`` under the one rule of its field (domain.identifiers), a refusal in one line."""
    try:
        return rule(value)
    except identifiers.InvalidIdentifier as exc:
        raise CommandError(str(exc)) from None


async def access_change(change: Awaitable[T]) -> T:
    """An access repository change; its refusal (AccessError: taken, missing, in use) is
    the command's one-line refusal."""
    try:
        return await change
    except AccessError as exc:
        raise CommandError(str(exc)) from None


async def require_user(services: Services, key: str) -> User:
    return required(await services.store.users.find(key), f"user {key!r}")


async def require_role(services: Services, name: str) -> Role:
    return required(await services.store.access.get_role(name), f"role {name!r}")


def create_role(args: argparse.Namespace) -> None:
    name = checked(identifiers.role_name, args.name)

    async def action(services: Services) -> None:
        creation = services.store.access.create_role(
            name, args.description, require_mfa=args.require_mfa
        )
        role = await access_change(creation)
        details = {"role": name, "require_mfa": role.require_mfa}
        await services.audit.record("role.created", actor=ACTOR, details=details)
        reply(args.json, role_view(role), f"created role {name}")

    run_with_services(action)


def update_role(args: argparse.Namespace) -> None:
    if args.description is None and args.require_mfa is None:
        raise CommandError("nothing to change: give --description or --(no-)require-mfa")

    async def action(services: Services) -> None:
        before = role_view(await require_role(services, args.name))
        role = await services.store.access.update_role(
            args.name, description=args.description, require_mfa=args.require_mfa
        )
        after = role_view(required(role, f"role {args.name!r}"))
        details = changed_views(before, after)
        if details is not None:
            await services.audit.record(
                "role.updated", actor=ACTOR, details={"role": args.name, **details}
            )
        reply(args.json, after, f"updated role {args.name}" if details else "nothing changed")

    run_with_services(action)


def list_roles(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [role_view(r) for r in await services.store.access.list_roles()]
        listing(args.json, rows, ["name", "require_mfa", "description"])

    run_with_services(action)


async def linked(
    services: Services,
    args: argparse.Namespace,
    changed: bool,
    event: str,
    document: dict[str, Any],
    messages: tuple[str, str],
    *,
    details: dict[str, Any],
    user_id: str | None = None,
) -> None:
    """The end of an idempotent link change (assign, add a member, grant): the audit event
    when something changed, then the answer, ``messages`` being (changed, unchanged)."""
    if changed:
        await services.audit.record(event, actor=ACTOR, user_id=user_id, details=details)
    reply(args.json, document, messages[0] if changed else messages[1])


def _assignment(args: argparse.Namespace, *, assign: bool) -> None:
    async def action(services: Services) -> None:
        user = await require_user(services, args.username)
        role = await require_role(services, args.role)
        access = services.store.access
        changed = await (access.assign if assign else access.unassign)(user.id, role.name)
        if assign:
            messages = (
                f"assigned role {role.name} to {user.username}",
                f"{user.username} has role {role.name} already",
            )
        else:
            messages = (
                f"took role {role.name} from {user.username}",
                f"{user.username} does not have role {role.name} directly; nothing changed",
            )
        key = "assigned" if assign else "unassigned"
        document = {"user_id": user.id, "username": user.username, "role": role.name, key: changed}
        event, details = f"role.{key}", {"role": role.name}
        await linked(
            services, args, changed, event, document, messages, details=details, user_id=user.id
        )

    run_with_services(action)


assign_role = functools.partial(_assignment, assign=True)
unassign_role = functools.partial(_assignment, assign=False)


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
        deleted = await access_change(access.delete_role(args.name))
        if not deleted:
            raise CommandError(f"no role {args.name!r}")
        await services.audit.record("role.deleted", actor=ACTOR, details={"role": args.name})
        reply(args.json, {"name": args.name, "deleted": True}, f"deleted role {args.name}")

    run_with_services(action)
