"""The ``ostiary`` executable: one line naming the extra to install, not an ImportError
traceback, when a command's dependencies are missing.

``pip install ostiary`` installs the resource-server kit alone (docs/deployment.md); the
server is the ``server`` extra and the gateway the ``gateway`` extra. With only the
gateway installed, ``ostiary gateway`` runs: the command line imports only the module
of the command it runs.
"""

from __future__ import annotations

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


def command_of(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        print(f"ostiary {__version__}")
        return 0
    # The command line imports only the running command's module (cli/main.py), so the
    # gateway runs where only its extra is installed.
    try:
        if command_of(argv) == "gateway":
            _import_missing("ostiary.cli.gateway", "gateway", "the gateway")
        else:
            # What every other command opens (and so imports anyway).
            _import_missing("ostiary.services", "server", "the server")
    except NotInstalled as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return FAILED
    from ostiary.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
