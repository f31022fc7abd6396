"""Hot-path statements on the driver connection (asyncpg, aiosqlite), through SQLAlchemy's pool.

One statement through ``engine.connect()`` costs ~500 µs of CPU (connection wrapper, greenlet
hops, compiled-cache lookup, the reset on return); the same statement on the driver
connection of a pooled connection costs ~90 µs (issue #8). Repositories use this for the few
statements on the token and introspection paths and keep SQLAlchemy Core for everything else.

SQL is written once with PostgreSQL's ``$n`` placeholders; for SQLite they become ``?n``
(numbered parameters, same order). Rows come back as tuples. JSON columns: asyncpg decodes
them (SQLAlchemy installs the codec on every pooled connection), SQLite hands back text, so
``json_value`` reads both; values are written as JSON text on both.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

_PLACEHOLDER = re.compile(r"\$(\d+)")

Row = Sequence[Any]


class HotConnection(Protocol):
    postgresql: bool

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Statements inside run in one transaction, committed at the end of the block."""
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
    postgresql = True

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._conn.fetchrow(sql, *args)  # type: ignore[no-any-return]

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._conn.fetch(sql, *args)  # type: ignore[no-any-return]

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._conn.transaction()  # type: ignore[no-any-return]


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


# Per pool and event loop: how many hot statements may hold a connection at once.
_gates: weakref.WeakKeyDictionary[Any, dict[asyncio.AbstractEventLoop, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _gate(engine: AsyncEngine) -> asyncio.Semaphore | None:
    """At most ``pool_size`` hot statements at once, the others wait their turn: beyond the
    pool, QueuePool opens an overflow connection and closes it again on return, so a burst
    of concurrent requests would pay a connect (TCP, TLS negotiation, authentication) each
    (issue #8: 14 % of introspection's CPU at 32 concurrent requests). The overflow stays
    for everything else."""
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    if size is None:
        return None
    per_loop = _gates.setdefault(pool, {})
    loop = asyncio.get_running_loop()
    gate = per_loop.get(loop)
    if gate is None:
        for old in [x for x in per_loop if x.is_closed()]:
            del per_loop[old]
        gate = per_loop[loop] = asyncio.Semaphore(size())
    return gate


class Driver:
    """Checks a connection out of the engine's pool and hands over its driver connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.postgresql = engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[HotConnection]:
        gate = _gate(self._engine)
        if gate is None:
            async with self._checked_out() as conn:
                yield conn
            return
        async with gate, self._checked_out() as conn:
            yield conn

    @asynccontextmanager
    async def _checked_out(self) -> AsyncIterator[HotConnection]:
        raw = await self._engine.raw_connection()
        try:
            driver = raw.driver_connection
            yield _Postgres(driver) if self.postgresql else _Sqlite(driver)
        except BaseException:
            # A broken connection (server restart, cancelled mid-statement) never goes
            # back to the pool; the pool opens a new one next time.
            await greenlet_spawn(raw.invalidate)
            raise
        finally:
            await greenlet_spawn(raw.close)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self.connection() as conn:
            return await conn.fetch(sql, *args)
