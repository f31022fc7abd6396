"""Database engine creation for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ostiary.storage import log_redaction


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    # Statement parameters carry password hashes and token digests: keep them out of every
    # exception message, and so out of every log line and traceback.
    kwargs.setdefault("hide_parameters", True)
    # The driver's messages quote values all the same (a unique violation's DETAIL):
    # database exceptions are logged by class, SQLSTATE and table only.
    log_redaction.install()
    parsed = make_url(url)
    # Concurrent hot-path statements beyond the pool open a connection each and close it on
    # return (14 % of an introspection's CPU at 32 connections with a pool of 10).
    pool_size = kwargs.pop("pool_size", 20)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("pool_size", pool_size)
            kwargs.setdefault("max_overflow", pool_size)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", pool_size)
    kwargs.setdefault("max_overflow", pool_size)
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database; raises what the driver raises when it cannot."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server closed (a restart, an idle timeout) is replaced at
    checkout instead of failing the request that gets it. asyncpg notices the closed
    socket while the connection sits in the pool, so this costs no round trip, unlike
    ``pool_pre_ping``'s ``SELECT 1`` on every checkout."""
    if dbapi_connection.driver_connection.is_closed():
        # The pool invalidates the connection and connects again (QueuePool retries).
        raise DisconnectionError("pooled connection was closed by the server")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside one writer, so several workers can share the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
