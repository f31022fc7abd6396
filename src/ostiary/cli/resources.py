"""ostiary resource create | list | show | delete: protected resources (RFC 8707)."""

from __future__ import annotations

import argparse
from typing import Any

from ostiary.cli.commands import Subcommands, command
from ostiary.cli.context import run_with_services
from ostiary.cli.output import CommandError, emit_json, listing, reply, required
from ostiary.cli.roles import ACTOR
from ostiary.domain.resources import Resource
from ostiary.oauth.resource_indicators import registration_problem
from ostiary.services import Services


def add_parser(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "resource", help="register protected resources: token audiences (RFC 8707)"
    )
    cmds = parser.add_subparsers(dest="action", required=True)

    def create(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "--uri",
            required=True,
            help="the resource's URI, as clients send it in resource= (https, no fragment)",
        )
        cmd.add_argument(
            "--scope",
            default="",
            help="the scopes the resource accepts, space-separated (a token for it keeps "
            "only these)",
        )
        cmd.add_argument("--name", default="", help="a name for people")

    command(cmds, "create", create_resource, "register a protected resource", options=create)
    command(cmds, "list", list_resources, "list protected resources")
    command(cmds, "show", show_resource, "show a protected resource", "uri")
    command(cmds, "delete", delete_resource, "delete a protected resource", "uri")


def resource_view(resource: Resource) -> dict[str, Any]:
    return {
        "uri": resource.uri,
        "name": resource.name,
        "scopes": sorted(resource.scopes),
        "created_at": resource.created_at,
    }


def create_resource(args: argparse.Namespace) -> None:
    scopes = args.scope.split()
    problem = registration_problem(args.uri, args.name, scopes)
    if problem is not None:
        raise CommandError(problem)

    async def action(services: Services) -> None:
        added = await services.store.resources.add(uri=args.uri, name=args.name, scopes=scopes)
        if added is None:
            raise CommandError(f"resource {args.uri!r} exists already")
        view = resource_view(added)
        await services.audit.record("resource.created", actor=ACTOR, details={"after": view})
        listed = " ".join(view["scopes"]) or "no scopes"
        reply(args.json, view, f"created resource {added.uri} ({listed})")

    run_with_services(action)


def list_resources(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        rows = [resource_view(r) for r in await services.store.resources.list()]
        if not args.json:
            rows = [{**r, "scopes": " ".join(r["scopes"]) or "-"} for r in rows]
        listing(args.json, rows, ["uri", "name", "scopes"])

    run_with_services(action)


def show_resource(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        found = await services.store.resources.get(args.uri)
        view = resource_view(required(found, f"resource {args.uri!r}"))
        if args.json:
            emit_json(view)
        else:
            for key, value in view.items():
                print(f"{key}: {' '.join(value) if key == 'scopes' else value}")

    run_with_services(action)


def delete_resource(args: argparse.Namespace) -> None:
    async def action(services: Services) -> None:
        found = required(await services.store.resources.get(args.uri), f"resource {args.uri!r}")
        if not await services.store.resources.delete(args.uri):
            raise CommandError(f"no resource {args.uri!r}")
        await services.audit.record(
            "resource.deleted", actor=ACTOR, details={"before": resource_view(found)}
        )
        reply(args.json, {"uri": args.uri, "deleted": True}, f"deleted resource {args.uri}")

    run_with_services(action)
