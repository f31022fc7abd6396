"""The ``ostiary`` executable: one line naming the extra to install, not an ImportError
traceback, when a command's dependencies are missing.

``pip install ostiary`` installs the resource-server kit alone (docs/deployment.md); the
server is the ``server`` extra and the gateway the ``gateway`` extra. With only the
gateway installed, ``ostiary gateway`` runs without the rest of the command line.
"""

from __future__ import annotations

import argparse
import sys

from ostiary import __version__

FAILED = 1


class NotInstalled(Exception):
    """A command's dependencies are missing; the message says which extra brings them."""


def _import_missing(module: str, extra: str, what: str) -> None:
    """Import ``module``; a third-party module missing from the environment becomes
    ``NotInstalled``. A missing module of Ostiary's own is a packaging fault: raised."""
    try:
        __import__(module)
    except ModuleNotFoundError as exc:
        name = exc.name or ""
        if name == "ostiary" or name.startswith("ostiary."):
            raise
        raise NotInstalled(
            f"{what} is not installed (no module named {name!r}): pip install 'ostiary[{extra}]'"
        ) from None


def _command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _gateway_only(argv: list[str]) -> int:
    """``ostiary gateway`` where only the gateway extra is installed."""
    from ostiary.cli import gateway as gateway_cli
    from ostiary.cli.output import CommandError, say
    from ostiary.settings import SettingsError

    root = argparse.ArgumentParser(prog="ostiary", description="Ostiary gateway")
    root.add_argument("--version", action="version", version=f"ostiary {__version__}")
    root.add_argument("--debug", action="store_true", help="on failure, print the traceback")
    sub = root.add_subparsers(dest="command", required=True)
    gateway_cli.add_parser(sub)
    args = root.parse_args(argv)
    try:
        args.func(args)
    except (CommandError, SettingsError) as exc:
        if args.debug:
            raise
        say(f"error: {exc}")
        return FAILED
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        print(f"ostiary {__version__}")
        return 0
    try:
        try:
            _import_missing("ostiary.cli.main", "server", "the server")
        except NotInstalled:
            if _command(argv) != "gateway":
                raise
            _import_missing("ostiary.cli.gateway", "gateway", "the gateway")
            return _gateway_only(argv)
    except NotInstalled as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return FAILED
    from ostiary.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
