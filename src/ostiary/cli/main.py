"""Entry point of the ``ostiary`` command."""

from __future__ import annotations

import argparse
import logging
import sys

from ostiary import __version__
from ostiary.cli import (
    admin,
    audit,
    backup,
    clients,
    db,
    groups,
    keys,
    purge,
    roles,
    scopes,
    serve,
    state,
    users,
)
from ostiary.cli import dev as dev_tools
from ostiary.cli import gateway as gateway_cli
from ostiary.cli import providers as providers_cli
from ostiary.cli.output import CommandError, say
from ostiary.settings import SettingsError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ostiary", description="Ostiary identity server")
    root.add_argument("--version", action="version", version=f"ostiary {__version__}")
    sub = root.add_subparsers(dest="command", required=True)
    for module in (
        serve,
        db,
        clients,
        users,
        keys,
        roles,
        groups,
        scopes,
        audit,
        purge,
        admin,
        state,
        backup,
    ):
        module.add_parser(sub)
    gateway_cli.add_parser(sub)
    providers_cli.add_parser(sub)
    dev_tools.add_parser(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (CommandError, SettingsError) as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
