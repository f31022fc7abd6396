"""How one node tells the others that a cached row changed.

- PostgreSQL: the writer runs ``pg_notify`` inside its transaction, so the message is sent
  exactly when the change commits; each node LISTENs on a dedicated connection. While that
  connection is down the cache is bypassed, and it is emptied when the connection returns
  (a notification may have been missed meanwhile).
- SQLite (one host): the writer replaces a stamp file beside the database after it commits;
  each node compares the file's identity (one ``stat``) before using its cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary.cache.rows import RowCache

log = logging.getLogger("ostiary.cache")
RECONNECT_DELAY = 1.0
EVERYTHING = "*"


class Channel(Protocol):
    async def in_transaction(self, conn: AsyncConnection, key: str) -> None:
        """Called by a writer inside the transaction that changes ``key``."""

    def committed(self, key: str) -> None:
        """Called by a writer after its transaction committed."""

    def poll(self, cache: RowCache[Any]) -> None:
        """Called before each cache read: apply what other nodes announced."""

    async def close(self) -> None: ...


class PgNotifyChannel:
    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._name = name
        self._cache: RowCache[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    async def in_transaction(self, conn: AsyncConnection, key: str) -> None:
        await conn.execute(
            text("SELECT pg_notify(:channel, :key)"), {"channel": self._name, "key": key}
        )

    def committed(self, key: str) -> None:
        return None

    def poll(self, cache: RowCache[Any]) -> None:
        if self._task is None:
            self._cache = cache
            cache.usable = False
            self._task = asyncio.get_running_loop().create_task(self._listen(cache))

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self._cache is not None:
            self._cache.invalidate(None if payload == EVERYTHING else payload)

    async def _listen(self, cache: RowCache[Any]) -> None:
        while True:
            lost = asyncio.Event()
            try:
                self._conn = await asyncpg.connect(self._dsn)
                self._conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await self._conn.add_listener(self._name, self._notified)
                cache.invalidate()
                cache.usable = True
                await lost.wait()
                log.warning("cache invalidation channel %s lost; reconnecting", self._name)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cache invalidation channel %s: %s", self._name, type(exc).__name__)
            finally:
                cache.usable = False
                cache.invalidate()
                await self._drop_connection()
            await asyncio.sleep(RECONNECT_DELAY)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await asyncio.wait_for(conn.close(), timeout=5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_connection()


class StampFileChannel:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    async def in_transaction(self, conn: AsyncConnection, key: str) -> None:
        return None

    def committed(self, key: str) -> None:
        if self._path is None:
            return
        # A new file each time (new inode): readers never see a half-written stamp.
        fresh = self._path.with_name(f"{self._path.name}.{secrets.token_hex(4)}")
        fresh.write_text(secrets.token_hex(8))
        os.replace(fresh, self._path)

    def poll(self, cache: RowCache[Any]) -> None:
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            cache.invalidate()

    async def close(self) -> None:
        return None


def channel_for(engine: AsyncEngine, name: str) -> Channel:
    """The channel that fits the database behind ``engine``."""
    if engine.dialect.name == "postgresql":
        return PgNotifyChannel(engine, name)
    database = engine.url.database
    if not database or database == ":memory:":
        return StampFileChannel(None)
    return StampFileChannel(Path(f"{database}.{name}-stamp"))
