"""The subcommands of a command group: positional arguments, options, and ``--json``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

# A string: argparse's class cannot be subscripted at run time.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` (up to ``high``, if given)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
        if high is None and number < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more")
        if high is not None and not low <= number <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return number

    return parse


def command(
    cmds: Subcommands,
    name: str,
    func: Callable[[argparse.Namespace], None],
    text: str,
    *args: str,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """A subcommand with positional ARGs given as "name" or "name:help", then the options
    ``options`` adds, then --json (every command's answer can be one JSON document)."""
    cmd = cmds.add_parser(name, help=text)
    for arg in args:
        arg_name, _, arg_help = arg.partition(":")
        cmd.add_argument(arg_name, help=arg_help or None)
    if options is not None:
        options(cmd)
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(func=func)
