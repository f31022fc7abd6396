"""ostiary purge"""

from __future__ import annotations

import argparse

from ostiary import retention
from ostiary.cli.context import run_with_services
from ostiary.cli.output import emit_json, say
from ostiary.services import Services


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "purge", help="delete expired codes, tokens, sessions and old audit events now"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=purge)


def purge(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        removed = await retention.purge(services)
        if args.json:
            emit_json(removed)
            return
        for kind, count in removed.items():
            say(f"{kind}: {count} removed")

    run_with_services(action)
