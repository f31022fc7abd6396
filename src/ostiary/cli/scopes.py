"""ostiary scope create | update | list | delete"""

from __future__ import annotations

import argparse
from typing import Any

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE
from ostiary.cli.commands import Subcommands, command
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, reply, required, say, table
from ostiary.cli.roles import ACTOR, access_change, require_role
from ostiary.domain.access import Scope
from ostiary.oauth.scopes import is_scope_token
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries

MAX_SCOPE_NAME = 200


def add_parser(sub: Subcommands) -> None:
    parser = sub.add_parser("scope", help="register scopes, optionally gated by roles")
    cmds = parser.add_subparsers(dest="action", required=True)

    def create(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--requires-role",
            action="append",
            default=[],
            dest="required_roles",
            metavar="ROLE",
            help="only users holding one of these roles may be granted the scope (repeatable)",
        )
        cmd.add_argument("--description", default="")

    def update(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--description")
        roles = cmd.add_mutually_exclusive_group()
        roles.add_argument(
            "--requires-role",
            action="append",
            dest="required_roles",
            metavar="ROLE",
            help="the roles that may have the scope, replacing the present ones (repeatable)",
        )
        roles.add_argument("--open", action="store_true", help="no role needed: open to every user")

    command(cmds, "create", create_scope, "register a scope", "name", options=create)
    text = "change the roles that gate a scope, or its text"
    command(cmds, "update", update_scope, text, "name", options=update)
    command(cmds, "list", list_scopes, "list registered scopes and the roles they need")
    command(cmds, "delete", delete_scope, "delete a registered scope that no role gates", "name")


def scope_view(scope: Scope) -> dict[str, Any]:
    return {
        "name": scope.name,
        "description": scope.description,
        "required_roles": list(scope.required_roles),
        "created_at": scope.created_at,
    }


def create_scope(args: argparse.Namespace) -> None:
    # RFC 6749 §3.3: a scope is a scope-token; anything else could never be requested.
    if not is_scope_token(args.name) or len(args.name) > MAX_SCOPE_NAME:
        raise CommandError(
            f"a scope name has 1 to {MAX_SCOPE_NAME} printable ASCII characters, "
            "without spaces, '\"' or '\\' (RFC 6749 §3.3)"
        )

    async def action(services: Services) -> None:
        for role in args.required_roles:
            await require_role(services, role)
        creation = services.store.access.create_scope(
            args.name, description=args.description, required_roles=args.required_roles
        )
        scope = await access_change(creation)
        await services.audit.record(
            "scope.created",
            actor=ACTOR,
            details={"scope": scope.name, "required_roles": list(scope.required_roles)},
        )
        if args.json:
            emit_json(scope_view(scope))
        elif scope.required_roles:
            say(f"created scope {scope.name}, for holders of {' or '.join(scope.required_roles)}")
        else:
            say(f"created scope {scope.name}, open to every user")

    run_with_services(action)


def update_scope(args: argparse.Namespace) -> None:
    wanted_roles = [] if args.open else args.required_roles
    if wanted_roles is None and args.description is None:
        raise CommandError("nothing to change: give --requires-role, --open or --description")
    if args.open and args.name in (ADMIN_SCOPE, ADMIN_READ_SCOPE):
        raise CommandError(f"{args.name} must stay gated by a role")

    async def action(services: Services) -> None:
        access = services.store.access
        before = required(await access.get_scope(args.name), f"scope {args.name!r}")
        if wanted_roles is not None:
            for role in wanted_roles:
                await require_role(services, role)
            await access.set_scope_roles(args.name, wanted_roles)
        if args.description is not None:
            await queries.set_scope_description(services.engine, args.name, args.description)
        after = await access.get_scope(args.name)
        assert after is not None
        if after != before:
            await services.audit.record(
                "scope.updated",
                actor=ACTOR,
                details={
                    "scope": args.name,
                    "before": scope_view(before),
                    "after": scope_view(after),
                },
            )
        if args.json:
            emit_json(scope_view(after))
        elif after.required_roles:
            roles = " or ".join(after.required_roles)
            say(f"updated scope {args.name}: for holders of {roles}")
        else:
            say(f"updated scope {args.name}: open to every user")

    run_with_services(action)


def list_scopes(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [scope_view(s) for s in await services.store.access.list_scopes()]
        if args.json:
            emit_json(rows)
        else:
            table(
                [{**r, "required_roles": " ".join(r["required_roles"]) or "-"} for r in rows],
                ["name", "required_roles", "description"],
            )

    run_with_services(action)


def delete_scope(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        scope = required(await services.store.access.get_scope(args.name), f"scope {args.name!r}")
        # An unregistered scope is open to every user: deleting a gated one would open it.
        if scope.required_roles:
            raise CommandError(
                f"scope {args.name!r} is gated by {', '.join(scope.required_roles)}; open it "
                f"first (ostiary scope update {args.name} --open), or it would open to every user"
            )
        if not await services.store.access.delete_scope(args.name):
            raise CommandError(f"no scope {args.name!r}")
        await services.audit.record("scope.deleted", actor=ACTOR, details={"scope": args.name})
        reply(args.json, {"name": args.name, "deleted": True}, f"deleted scope {args.name}")

    run_with_services(action)
