"""ostiary keys list | rotate"""

from __future__ import annotations

import argparse

from ostiary import clock
from ostiary.admin.operations.keys import state as key_state
from ostiary.cli.context import run_with_services
from ostiary.cli.output import emit_json, listing, say
from ostiary.cli.roles import ACTOR
from ostiary.keys.algorithms import SUPPORTED
from ostiary.services import Services


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keys", help="signing keys")
    cmds = parser.add_subparsers(dest="action", required=True)
    list_ = cmds.add_parser("list", help="list signing keys and their state")
    list_.add_argument("--json", action="store_true")
    list_.set_defaults(func=list_keys)
    rotate = cmds.add_parser("rotate", help="add a new key, published before it signs")
    rotate.add_argument("--alg", choices=SUPPORTED, action="append", dest="algs")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=rotate_keys)


def list_keys(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [
            {
                "kid": k.kid,
                "alg": k.alg,
                "state": key_state(k.activates_at, k.retired_at, k.expires_at, clock.now()),
                "created_at": k.created_at,
                "activates_at": k.activates_at,
                "retired_at": k.retired_at,
                "expires_at": k.expires_at,
            }
            for k in await services.store.keys.all()
        ]
        listing(args.json, rows, ["kid", "alg", "state", "activates_at", "expires_at"])

    run_with_services(action)


def rotate_keys(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        algs = args.algs or sorted(services.signing_algs())
        created = [{"alg": alg, "kid": await services.keys.rotate(alg)} for alg in algs]
        for row in created:
            # The admin API has no rotation: the event type is the command line's own.
            await services.audit.record("key.rotated", actor=ACTOR, details=row)
        if args.json:
            emit_json(created)
        else:
            delay = services.settings.keys.publish_ahead
            for row in created:
                say(f"new {row['alg']} key {row['kid']}: published now, signs in {delay}s")

    run_with_services(action)
