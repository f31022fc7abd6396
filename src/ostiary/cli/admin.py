"""ostiary admin bootstrap"""

from __future__ import annotations

import argparse

from ostiary.admin.bootstrap import BootstrapError, bootstrap
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, say
from ostiary.cli.roles import ACTOR
from ostiary.cli.users import _password as read_password
from ostiary.domain import identifiers
from ostiary.services import Services


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("admin", help="administration")
    cmds = parser.add_subparsers(dest="action", required=True)
    boot = cmds.add_parser(
        "bootstrap", help="create the first administrator and a client for the admin API"
    )
    boot.add_argument("--username", required=True)
    boot.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    boot.add_argument("--json", action="store_true")
    boot.set_defaults(func=bootstrap_admin)


def bootstrap_admin(args: argparse.Namespace) -> None:
    try:
        username = identifiers.username(args.username, "--username")
    except identifiers.InvalidIdentifier as exc:
        raise CommandError(str(exc)) from None
    password = read_password(args.password_stdin)

    async def action(services: Services) -> None:
        try:
            done = await bootstrap(services, username, password, actor=ACTOR)
        except BootstrapError as exc:
            raise CommandError(f"{exc}; bootstrap runs once per administrator") from None
        if args.json:
            emit_json(
                {
                    "user_id": done.user.id,
                    "username": done.user.username,
                    "client_id": done.client_id,
                    "client_secret": done.client_secret,
                }
            )
        else:
            say(f"created administrator {done.user.username} ({done.user.id}) with role admin")
            say(f"admin API client_id: {done.client_id}")
            say(f"client_secret: {done.client_secret}\n(shown once; only its hash is stored)")
            if services.settings.admin_console.enabled:
                say(f"admin console: {services.settings.issuer}/admin/ (sign in as {username})")

    run_with_services(action)
