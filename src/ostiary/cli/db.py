"""ostiary db upgrade"""

from __future__ import annotations

import argparse

from ostiary.cli.context import run_with_services
from ostiary.cli.output import say
from ostiary.services import Services


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help="database schema")
    cmds = parser.add_subparsers(dest="action", required=True)
    upgrade = cmds.add_parser("upgrade", help="migrate the database to the latest schema")
    upgrade.set_defaults(func=upgrade_db)


def upgrade_db(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        say("database is at the latest schema")

    run_with_services(action, create=True)  # migrating is what run_with_services does first
