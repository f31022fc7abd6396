"""Hot-path statements on the driver connection (asyncpg, aiosqlite), through SQLAlchemy's pool.

One statement through ``engine.connect()`` costs ~500 µs of CPU (connection wrapper, greenlet
hops, compiled-cache lookup, the reset on return); the same statement on the driver
connection of a pooled connection costs ~90 µs. Repositories use this for the few
statements on the token and introspection paths and keep SQLAlchemy Core for everything else.

SQL is written once with PostgreSQL's ``$n`` placeholders; for SQLite they become ``?n``
(numbered parameters, same order). Rows come back as tuples. JSON columns: asyncpg decodes
them (SQLAlchemy installs the codec on every pooled connection), SQLite hands back text, so
``json_value`` reads both; values are written as JSON text on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from ostiary.storage.errors import is_unavailable, unsent
from ostiary.storage.repos._held_back import HeldBack, Pending, begin, end, with_writes

_PLACEHOLDER = re.compile(r"\$(\d+)")

Row = Sequence[Any]


class HotConnection(Protocol):
    postgresql: bool

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Statements inside run in one transaction, committed at the end of the block."""
        ...

    async def fetchrow_with(self, held: HeldBack | None, sql: str, *args: Any) -> Row | None:
        """``fetchrow``, with the writes ``held`` back sent first in the same transaction
        (on PostgreSQL in the same statement: one round trip)."""
        ...


@lru_cache(maxsize=256)
def sqlite_sql(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


def json_text(value: Any) -> str:
    """A JSON column value as both drivers accept it (``None`` is JSON null, as SQLAlchemy
    writes it)."""
    return json.dumps(value)


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


class _Postgres:
    """asyncpg, with one retry on a fresh connection when the connection turns out to be
    gone (a PostgreSQL restart, a fail-over, a proxy that dropped it): for a read outside
    a transaction block, and for any statement asyncpg refused to send because it already
    knew the connection was closed. A write that may have reached the server is never sent
    twice, and a transaction block's statements never continue on another connection."""

    postgresql = True

    __slots__ = ("_conn", "_in_block", "_lease", "_retried")

    def __init__(self, conn: Any, lease: _Lease | None = None) -> None:
        self._conn = conn
        self._lease = lease
        self._in_block = False
        self._retried = False

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            return await self._conn.fetchrow(sql, *args)
        except Exception as exc:
            await self._replace_or_raise(exc, sql)
        return await self._conn.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return await self._conn.fetch(sql, *args)
        except Exception as exc:
            await self._replace_or_raise(exc, sql)
        return await self._conn.fetch(sql, *args)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return _PgTransaction(self)

    async def fetchrow_with(self, held: HeldBack | None, sql: str, *args: Any) -> Row | None:
        pending = held.take() if held else None
        if pending:
            sql, values = with_writes(sql, args, pending)
            return await self.fetchrow(sql, *values)
        return await self.fetchrow(sql, *args)

    async def _replace_or_raise(self, exc: Exception, sql: str) -> None:
        """Return with a fresh connection in place if ``sql`` may be sent again after
        ``exc``; otherwise raise ``exc``."""
        lease = self._lease
        known = is_unavailable(exc)
        if not known and not self._conn.is_closed():
            raise exc  # an error of the statement, not of the connection
        if lease is None or self._retried or self._in_block or not (unsent(exc) or _is_read(sql)):
            if known:
                raise exc
            # Whatever asyncpg called it, the statement failed on a connection that is
            # gone now: a lost connection, answered as the database being unavailable.
            raise asyncpg.ConnectionDoesNotExistError("the connection was lost") from exc
        self._retried = True
        self._conn = (await lease.replace()).driver_connection


class _PgTransaction:
    """asyncpg's transaction block, marking the connection as inside one (no retry)."""

    __slots__ = ("_owner", "_tx")

    def __init__(self, owner: _Postgres) -> None:
        self._owner = owner
        self._tx: Any = None

    async def __aenter__(self) -> None:
        self._tx = self._owner._conn.transaction()
        await self._tx.__aenter__()
        self._owner._in_block = True

    async def __aexit__(self, *exc: Any) -> None:
        self._owner._in_block = False
        await self._tx.__aexit__(*exc)


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:7].upper()
    return head.startswith("SELECT") and head[6:7] in ("", " ", "\n", "\t")


class _Sqlite:
    postgresql = False

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._in_block = False

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows = list(await self._conn.execute_fetchall(sqlite_sql(sql), args))
        if not self._in_block and self._conn.in_transaction:
            # A write outside a transaction block commits at once, as on PostgreSQL (the
            # pool would roll it back on return).
            await self._conn.commit()
        return rows

    async def fetchrow_with(self, held: HeldBack | None, sql: str, *args: Any) -> Row | None:
        pending = held.take() if held else []
        if pending and not self._in_block:
            async with self.transaction():
                return await self._after(pending, sql, args)
        return await self._after(pending, sql, args)

    async def _after(self, pending: Pending, sql: str, args: tuple[Any, ...]) -> Row | None:
        for write, values in pending:
            await self.fetch(write, *values)
        return await self.fetchrow(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        # sqlite3 opens the transaction before the first write; one writer at a time, so
        # the block is serialised against every other writer until the commit.
        self._in_block = True
        try:
            yield
        except BaseException:
            await self._conn.rollback()
            raise
        finally:
            self._in_block = False
        await self._conn.commit()


# Connections a hot statement keeps checked out for the next one, per event loop.
HOLD = 8


class _Held:
    """The hot path's share of one engine's pool, on one event loop.

    - At most ``pool_size`` hot statements at once; the others wait their turn. Beyond the
      pool, QueuePool opens an overflow connection and closes it again on return, so a
      burst of concurrent requests paid a connect (TCP, TLS negotiation, authentication)
      each (14 % of an introspection's CPU at 32 concurrent requests).
    - Up to ``HOLD`` connections stay checked out between hot statements: a checkout and a
      check-in through SQLAlchemy cost more CPU than the statement itself (~45 µs against
      ~16 µs). The rest of the pool, and its overflow, stay for everything else.

    ``engine.dispose()`` closes the held connections (the ``engine_disposed`` event).
    """

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.gate = asyncio.Semaphore(size)
        self.idle: list[PoolProxiedConnection] = []
        self.keep = min(size, HOLD)
        self.disposed = False


_held: weakref.WeakKeyDictionary[Engine, dict[asyncio.AbstractEventLoop, _Held]] = (
    weakref.WeakKeyDictionary()
)


def _held_for(engine: AsyncEngine) -> _Held | None:
    sync = engine.sync_engine
    size = getattr(sync.pool, "size", None)
    if size is None:  # a pool without a size (SQLite :memory:): nothing to share out
        return None
    per_loop = _held.get(sync)
    if per_loop is None:
        per_loop = _held[sync] = {}
        event.listen(sync, "engine_disposed", _release)
    loop = asyncio.get_running_loop()
    held = per_loop.get(loop)
    if held is None:
        for old in [x for x in per_loop if x.is_closed()]:
            _close_all(per_loop.pop(old))
        held = per_loop[loop] = _Held(size(), loop)
    return held


def _close_all(held: _Held) -> None:
    held.disposed = True
    idle, held.idle = held.idle, []
    for raw in idle:
        # Closes the driver connection (or, for one of a closed event loop, at least
        # checks the record back in); failures are logged by SQLAlchemy.
        with contextlib.suppress(Exception):
            raw.invalidate()


def _release(sync_engine: Engine) -> None:
    """``engine_disposed``: runs inside ``AsyncEngine.dispose()``'s greenlet."""
    for held in _held.pop(sync_engine, {}).values():
        _close_all(held)


def _closed(raw: PoolProxiedConnection) -> bool:
    """asyncpg learned the server closed the held connection (or the pool detached it)."""
    conn = raw.driver_connection
    return conn is None or conn.is_closed()


async def _settle(step: Callable[[], None]) -> None:
    """Close or invalidate a pooled connection even if this task is being cancelled: a
    connection left half-returned would stay checked out of the pool for good."""
    await asyncio.shield(greenlet_spawn(step))


class _Lease:
    """One hot connection for the length of an ``async with`` block.

    - With a share of the pool (``_Held``): waits for its turn, takes a held connection (or
      one from the pool), and afterwards keeps it held or returns it.
    - Without (a pool without a size): a pooled connection, returned afterwards.
    - A block that raised (a broken connection, a cancelled statement) closes the
      connection for good; the pool opens a new one next time.

    A class rather than an ``asynccontextmanager``: every hot statement goes through it,
    and the generator machinery cost more than the bookkeeping.
    """

    __slots__ = ("_driver", "_held", "_raw")

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._held: _Held | None = None
        self._raw: PoolProxiedConnection | None = None

    async def __aenter__(self) -> HotConnection:
        driver = self._driver
        held = self._held = driver._share()
        raw: PoolProxiedConnection | None
        if held is None:
            raw = await driver._engine.raw_connection()
        else:
            await held.gate.acquire()
            try:
                raw = held.idle.pop() if held.idle else None
                if raw is not None and driver.postgresql:
                    conn = raw.driver_connection  # _closed(raw), inline: every hot statement
                    if conn is None or conn.is_closed():
                        raw = await self._open_one(held, raw)
                if raw is None:
                    raw = await driver._engine.raw_connection()
            except BaseException:
                held.gate.release()
                raise
        self._raw = raw
        return driver._wrap(raw, self)

    async def _open_one(
        self, held: _Held, closed: PoolProxiedConnection
    ) -> PoolProxiedConnection | None:
        """``closed`` was closed by the server, as a restart closes every held connection
        at once: drop it and every other closed one, and return an open held connection if
        one is left. asyncpg learns of a closed socket while the connection sits idle, so
        the look costs no round trip; the pool's ``checkout`` check (``engine.py``) does
        the same for the connection that replaces it."""
        await _settle(closed.invalidate)
        while held.idle:
            raw = held.idle.pop()
            if not _closed(raw):
                return raw
            await _settle(raw.invalidate)
        return None

    async def replace(self) -> PoolProxiedConnection:
        """Close the leased connection for good and lease a fresh one in its place (the
        block keeps its turn)."""
        old = self._raw
        self._raw = None
        if old is not None:
            await _settle(old.invalidate)
        raw = self._raw = await self._driver._engine.raw_connection()
        return raw

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        held, raw = self._held, self._raw
        try:
            if raw is None:  # a replacement that failed to connect
                pass
            elif exc_type is not None:
                await _settle(raw.invalidate)
            elif held is None or held.disposed or len(held.idle) >= held.keep:
                await _settle(raw.close)
            else:
                held.idle.append(raw)
        finally:
            if held is not None:
                held.gate.release()


class Driver:
    """Hands over the driver connection of a connection from the engine's pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self._held: _Held | None = None

    def _share(self) -> _Held | None:
        # The registry lookup (a weak reference per call) only when the loop or pool changed.
        held = self._held
        if held is None or held.disposed or held.loop is not asyncio.get_running_loop():
            held = self._held = _held_for(self._engine)
        return held

    def connection(self) -> _Lease:
        """A connection for a few statements (``async with``). Never call another
        repository inside the block: a hot connection waiting for a second one could wait
        for ever."""
        return _Lease(self)

    def _wrap(self, raw: PoolProxiedConnection, lease: _Lease | None = None) -> HotConnection:
        if self.postgresql:
            return _Postgres(raw.driver_connection, lease)
        return _Sqlite(raw.driver_connection)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.connection() as conn:
            return await conn.fetch(sql, *args)

    def unit_of_work(self) -> UnitOfWork:
        """``async with``: writes held back inside the block (``_held_back``) go with a
        later statement, and what is left goes out when the block ends."""
        return UnitOfWork(self)

    async def flush(self, held: HeldBack) -> None:
        """Send what ``held`` still holds back (nothing to do when it is empty)."""
        if held:
            async with self.connection() as conn:
                await conn.fetchrow_with(held, "SELECT 1")


class UnitOfWork:
    """One request's unit of work (``Driver.unit_of_work``). On every way out of the block
    the writes still held back are sent: none is ever lost."""

    __slots__ = ("_driver", "_held", "_token")

    def __init__(self, driver: Driver) -> None:
        self._driver = driver

    async def __aenter__(self) -> None:
        self._held, self._token = begin()

    async def __aexit__(self, *exc: object) -> None:
        held = self._held
        end(held, self._token)
        await self._driver.flush(held)
