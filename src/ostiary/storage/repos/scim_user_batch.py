"""Group commit for SCIM user creation: creates that arrive while one transaction is
being written share the next one (one multi-row INSERT per table, one commit).

Directories provision in bursts (an initial Entra ID or Okta sync pushes thousands of
users, several requests at a time). One transaction per user spends most of its time in
commits and, on SQLite, in writers waiting for each other's lock; here one writer per
engine runs at a time and takes everything queued. If a batch fails (a uniqueness
violation, a value the database refuses), its users are written one by one so that only
the bad one fails; a batch's rows commit together or not at all.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary.storage.tables import scim_user_emails, scim_user_phones, scim_users, users

MAX_BATCH = 200
# Failures that say nothing about the rows written: retrying each alone would only wait
# for the same unreachable database once per member.
_OUTAGE = (OperationalError, InterfaceError, OSError, TimeoutError)


class DuplicateInBatch(Exception):
    pass


@dataclass(frozen=True, slots=True)
class NewUser:
    """The rows of one user, ready to insert."""

    user: dict[str, Any]
    scim: dict[str, Any]
    entries: tuple[tuple[Any, list[dict[str, Any]]], ...]


class CreateBatcher:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queue: list[tuple[NewUser, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, new: NewUser) -> None:
        """Return once ``new`` is committed; ``DuplicateInBatch`` if a unique key clashes."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((new, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._write([new for new, _ in batch])
            except Exception as exc:
                # The batch's transaction rolled back whole. With one member that member
                # failed; with more, each is written on its own so that one bad request
                # (a duplicate, or a value the database refuses) fails only itself.
                # An unreachable database fails them all at once instead.
                if len(batch) > 1 and not isinstance(exc, _OUTAGE):
                    await self._one_by_one(batch)
                else:
                    for new, future in batch:
                        _settle(future, new, exc)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _one_by_one(self, batch: list[tuple[NewUser, asyncio.Future[None]]]) -> None:
        for new, future in batch:
            try:
                await self._write([new])
            except Exception as exc:
                _settle(future, new, exc)
            else:
                if not future.done():
                    future.set_result(None)

    async def _write(self, batch: list[NewUser]) -> None:
        async with self._engine.begin() as conn:
            await _insert(conn, users, [new.user for new in batch])
            await _insert(conn, scim_users, [new.scim for new in batch])
            for table in (scim_user_emails, scim_user_phones):
                await _insert(
                    conn,
                    table,
                    [r for new in batch for t, rows in new.entries if t is table for r in rows],
                )


def _settle(future: asyncio.Future[None], new: NewUser, exc: Exception) -> None:
    """Fail one member's request: a unique key clash is a duplicate (the caller's 409),
    anything else is passed on as it was raised."""
    if future.done():
        return
    if isinstance(exc, IntegrityError):
        future.set_exception(DuplicateInBatch(new.scim["user_name_ci"]))
    else:
        future.set_exception(exc)


async def _insert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT per set of columns given (the others take their defaults)."""
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(frozenset(row), []).append(row)
    for same in shapes.values():
        await conn.execute(insert(table), same)


_batchers: weakref.WeakKeyDictionary[AsyncEngine, CreateBatcher] = weakref.WeakKeyDictionary()


def batcher(engine: AsyncEngine) -> CreateBatcher:
    found = _batchers.get(engine)
    if found is None:
        found = _batchers[engine] = CreateBatcher(engine)
    return found
