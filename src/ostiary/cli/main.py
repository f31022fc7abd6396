"""Entry point of the ``ostiary`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from ostiary import __version__
from ostiary.cli import (
    admin,
    audit,
    backup,
    clients,
    db,
    groups,
    keys,
    project,
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
from ostiary.cli.failures import unexpected
from ostiary.cli.output import CommandError, say
from ostiary.settings import SettingsError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ostiary", description="Ostiary identity server")
    root.add_argument("--version", action="version", version=f"ostiary {__version__}")
    root.add_argument(
        "--debug", action="store_true", help="on failure, print the traceback too (any position)"
    )
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


# Exit statuses (docs/cli.md): argparse exits 2 on a usage error by itself.
FAILED = 1
INTERNAL = 70  # sysexits.h EX_SOFTWARE: a fault of Ostiary's, worth a bug report
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere before a lone "--", so it can be added to the end of a
    # command that just failed.
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    if debug:
        argv = [arg for i, arg in enumerate(argv) if arg != "--debug" or i >= end]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if debug:
        logging.getLogger("ostiary").setLevel(logging.DEBUG)
    args = parser().parse_args(argv)
    # serve --demo writes those settings itself; the gateway reads its own configuration.
    if not getattr(args, "demo", False) and args.command != "gateway":
        project.use_project_settings()
    try:
        args.func(args)
    except (CommandError, SettingsError) as exc:
        say(f"error: {exc}")
        if debug:
            traceback.print_exception(exc)
        return FAILED
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        say(f"error: unexpected failure: {unexpected(exc)} (--debug shows the traceback)")
        return INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
