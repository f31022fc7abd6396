"""``--json`` prints exactly one JSON document on stdout; people read stderr."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import orjson


class CommandError(Exception):
    """A failure to report on stderr with exit status 1."""


T = TypeVar("T")


def required(found: T | None, what: str) -> T:
    """What a lookup found, or the refusal that there is no ``what``."""
    if found is None:
        raise CommandError(f"no {what}")
    return found


def emit_json(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reply(as_json: bool, document: Any, message: str) -> None:
    """A command's answer: with ``--json`` the one document on stdout, else the line for
    people on stderr."""
    if as_json:
        emit_json(document)
    else:
        say(message)


def listing(as_json: bool, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A list command's answer: with ``--json`` the rows as one array, else a table."""
    if as_json:
        emit_json(rows)
    else:
        table(rows, columns)


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table on stdout for people."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))


def read_secret_stdin(what: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CommandError(f"no {what} on standard input")
    return value
