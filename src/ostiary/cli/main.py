"""Entry point of the ``ostiary`` command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

from ostiary import __version__
from ostiary.cli import project
from ostiary.cli.entry import command_of
from ostiary.cli.output import CommandError, say
from ostiary.settings import SettingsError

# Each command name and the module that defines it. Only the module of the command being
# run is imported: each pulls in its own part of the server (uvicorn, FastAPI, the
# storage layer), and importing all of them costs every command half a second.
COMMANDS = {
    "serve": "serve",
    "db": "db",
    "client": "clients",
    "user": "users",
    "keys": "keys",
    "role": "roles",
    "group": "groups",
    "scope": "scopes",
    "resource": "resources",
    "audit": "audit",
    "purge": "purge",
    "admin": "admin",
    "export": "state",
    "import": "state",
    "backup": "backup",
    "gateway": "gateway",
    "provider": "providers",
    "dev": "dev",
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or (for speed) only ``command``'s part of it."""
    root = argparse.ArgumentParser(prog="ostiary", description="Ostiary identity server")
    root.add_argument("--version", action="version", version=f"ostiary {__version__}")
    root.add_argument(
        "--debug", action="store_true", help="on failure, print the traceback too (any position)"
    )
    sub = root.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(modules):
        importlib.import_module(f"ostiary.cli.{name}").add_parser(sub)
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
    args = parser(command_of(argv)).parse_args(argv)
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
        from ostiary.cli.failures import unexpected  # the storage layer: only when needed

        say(f"error: unexpected failure: {unexpected(exc)} (--debug shows the traceback)")
        return INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
