"""What a database exception means, and what of it may be written down.

``is_unavailable`` is the one test every renderer asks: the database could not be reached,
went away in the middle of a statement, is shutting down or starting up, or is too busy
(pool timeout, SQLite's busy timeout). Such a request is answered 503 with ``Retry-After``
(RFC 9110 §15.6.4, §10.2.3) instead of 500: nothing is wrong with the request, and the
same request may succeed seconds later.

``describe`` is the one way a database exception is written to a log: its class, its
SQLSTATE (or SQLite result code) and the table, column and constraint it names. Never the
message text: PostgreSQL's DETAIL quotes the values of a unique violation
(``Key (username)=(alice) already exists``) and data errors quote the rejected input.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

# Seconds a client is asked to wait before retrying while the database is unavailable:
# about as long as a PostgreSQL restart or a fail-over takes.
RETRY_AFTER = 5

# SQLSTATE classes and codes meaning "not now" rather than "not this request".
_UNAVAILABLE_CLASSES = ("08",)  # connection exception
_UNAVAILABLE_CODES = frozenset(
    {
        "57P01",  # admin_shutdown
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, recovering)
        "57P05",  # idle_session_timeout
        "53300",  # too_many_connections
    }
)
_UNAVAILABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)
# SQLite primary result codes: SQLITE_BUSY (after the busy timeout), SQLITE_LOCKED.
_SQLITE_BUSY = frozenset({5, 6})
# asyncpg's own messages for a connection that is gone (no SQLSTATE on these).
_ASYNCPG_GONE = ("connection is closed", "connection was closed", "underlying connection is closed")
# asyncpg's protocol refusing to start a statement: the server's FATAL (57P01 at a restart)
# arrived on the idle connection and put the protocol out of step before its socket closed.
_ASYNCPG_BROKEN = ("cannot switch to state", "not connected")


_DATABASE_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.", "sqlite3.")
# What a write breaking a unique or foreign key raises, for a handler that answers 409.
CONSTRAINT_VIOLATION: type[Exception] = sa_exc.IntegrityError

# The exception classes an outage can surface as, for handlers registered per class;
# ``is_unavailable`` then tells an outage from an error of the request.
OUTAGE_CANDIDATES: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    sqlite3.Error,
    OSError,
)


def _database_type(exc: BaseException) -> bool:
    # SQLAlchemy's adapted driver errors (sqlalchemy.dialects.postgresql.asyncpg.Error)
    # are plain Exception subclasses: their module says where they come from.
    return isinstance(exc, sa_exc.SQLAlchemyError | asyncpg.PostgresError | sqlite3.Error) or (
        type(exc).__module__ + "."
    ).startswith(_DATABASE_MODULES)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver exception a SQLAlchemy error wraps, and the causes of database
    exceptions. The causes of other exceptions are not followed: an outbound HTTP call
    that failed to connect is not a database outage."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < 16:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, sa_exc.DBAPIError) and current.orig is not None:
            todo.append(current.orig)
        if _database_type(current):
            todo.extend(x for x in (current.__cause__, current.__context__) if x is not None)


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) else None


def _one_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # QueuePool's "limit reached, connection timed out", and a connection the pool found dead.
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        code = _sqlstate(exc) or ""
        return code.startswith(_UNAVAILABLE_CLASSES) or code in _UNAVAILABLE_CODES
    if isinstance(exc, asyncpg.InterfaceError):
        return any(text in str(exc) for text in _ASYNCPG_GONE)
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return str(exc).startswith(_ASYNCPG_BROKEN)
    if isinstance(exc, sqlite3.OperationalError):
        errorcode = getattr(exc, "sqlite_errorcode", None)
        return isinstance(errorcode, int) and errorcode & 0xFF in _SQLITE_BUSY
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OSError):
        # asyncio's create_connection to several addresses: "Multiple exceptions: [Errno
        # 111] Connect call failed ..." is an OSError without an errno.
        return exc.errno in _UNAVAILABLE_ERRNOS or "Connect call failed" in str(exc)
    return False


def unsent(exc: BaseException) -> bool:
    """asyncpg refused the statement before writing any of it: the connection was known
    to be closed, or its protocol was out of step. Sending it again cannot run it twice."""
    if isinstance(exc, asyncpg.InterfaceError):
        return str(exc) == "connection is closed"
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return str(exc).startswith(_ASYNCPG_BROKEN)
    return False


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or the driver error inside it) says the database cannot be used
    right now: a 503 with ``Retry-After``, not a 500."""
    return any(_one_unavailable(e) for e in causes(exc))


def is_database_error(exc: BaseException) -> bool:
    """True when ``exc`` is, or wraps, an exception of SQLAlchemy or a database driver."""
    return any(_database_type(e) for e in causes(exc))


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception in the chain (asyncpg's, sqlite3's) if there is one."""
    found = exc
    for e in causes(exc):
        if isinstance(e, asyncpg.PostgresError | asyncpg.InterfaceError | sqlite3.Error | OSError):
            return e
        if _database_type(e):
            found = e
    return found


def describe(exc: BaseException) -> str:
    """A log-safe line: exception classes, SQLSTATE or SQLite code, and the table, column
    and constraint the server named. No message text, DETAIL or parameter values."""
    inner = _driver_error(exc)
    parts = [type(exc).__name__]
    if inner is not exc:
        parts.append(f"({type(inner).__module__.split('.')[0]}.{type(inner).__name__})")
    code = _sqlstate(inner)
    if code:
        parts.append(f"sqlstate={code}")
    sqlite_name = getattr(inner, "sqlite_errorname", None)
    if isinstance(sqlite_name, str):
        parts.append(f"sqlite={sqlite_name}")
    for field in ("schema_name", "table_name", "column_name", "constraint_name"):
        value = getattr(inner, field, None)
        if isinstance(value, str) and value:
            parts.append(f"{field.removesuffix('_name')}={value}")
    if isinstance(inner, OSError) and inner.errno is not None:
        parts.append(f"errno={errno.errorcode.get(inner.errno, inner.errno)}")
    if is_unavailable(exc):
        parts.append("unavailable")
    return " ".join(parts)
