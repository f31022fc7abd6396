"""Writes held back in a unit of work, to ride along with a later statement of the request.

Each round trip to the database costs the event loop a wake-up, so a password login's
session row and audit event are not sent on their own. Inside a unit of work
(``async with store.unit_of_work():``) ``sessions.add`` and ``audit.add`` hold their INSERT
back, and the next statement that carries held-back writes (storing the code, marking the
interaction authenticated) sends them with it: on PostgreSQL as data-modifying CTEs of that
statement (one round trip, one transaction, all or nothing with it); on SQLite just before
it, in its transaction. Whatever is still held back when the block ends is sent then, on
every way out of the block (an exception included, as the login's own events did happen):
no caller can forget it.

The open unit of work travels in a context variable of this module, so the code between
the web layer and the repositories (sign-in, the audit log, the authorization endpoint)
passes nothing along; only the repositories that hold back or carry writes look at it. A
task started inside the block sees it too, but once the block has ended its writes go out
on their own (a closed unit of work holds nothing back).

For plain INSERT, UPDATE and DELETE statements (no RETURNING) whose effect nothing read in
between depends on: under PostgreSQL the statements of one WITH all see the database as it
was before it, so a held-back write is invisible to the statement it travels with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any

_PLACEHOLDER = re.compile(r"\$(\d+)")

Pending = list[tuple[str, tuple[Any, ...]]]


class HeldBack:
    """The writes one unit of work holds back, in the order they were made."""

    __slots__ = ("_pending", "open")

    def __init__(self) -> None:
        self._pending: Pending = []
        self.open = True

    def add(self, sql: str, *args: Any) -> None:
        self._pending.append((sql, args))

    def take(self) -> Pending:
        pending, self._pending = self._pending, []
        return pending

    def __bool__(self) -> bool:
        return bool(self._pending)


_current: ContextVar[HeldBack | None] = ContextVar("ostiary_held_back", default=None)


def holding() -> HeldBack | None:
    """The open unit of work of this request, if there is one."""
    held = _current.get()
    return held if held is not None and held.open else None


def begin() -> tuple[HeldBack, Token[HeldBack | None]]:
    held = HeldBack()
    return held, _current.set(held)


def end(held: HeldBack, token: Token[HeldBack | None]) -> None:
    """Close ``held`` (later writes go out on their own); what it holds is the caller's to
    send."""
    held.open = False
    _current.reset(token)


@lru_cache(maxsize=256)
def _with_writes_sql(sql: str, writes: tuple[tuple[str, int], ...], offset: int) -> str:
    """``sql`` preceded by ``writes`` (statement, number of parameters) as CTEs ``wN``; their
    placeholders numbered after the statement's own ``offset`` parameters."""
    ctes = []
    for i, (write, count) in enumerate(writes):
        shift = offset

        def renumber(match: re.Match[str], shift: int = shift) -> str:
            return f"${int(match[1]) + shift}"

        ctes.append(f"w{i} AS ({_PLACEHOLDER.sub(renumber, write)})")
        offset += count
    body = sql.strip()
    if body[:4].upper() == "WITH" and body[4:5].isspace():
        return f"WITH {', '.join(ctes)}, {body[5:]}"
    return f"WITH {', '.join(ctes)} {body}"


def with_writes(sql: str, args: Sequence[Any], pending: Pending) -> tuple[str, list[Any]]:
    """One PostgreSQL statement: ``pending`` writes as CTEs, then ``sql``."""
    values = list(args)
    for _, write_args in pending:
        values.extend(write_args)
    shape = tuple((write, len(write_args)) for write, write_args in pending)
    return _with_writes_sql(sql, shape, len(args)), values
