"""One line for each way a command can fail to reach its database.

The driver's exceptions are long and nested (asyncpg's connect error wrapped by
SQLAlchemy, several addresses tried for ``localhost``); an operator needs to know which
database, and whether it was the network, the login or the database name.
"""

from __future__ import annotations

import socket
import sqlite3

import asyncpg
from sqlalchemy.engine import URL, make_url

from ostiary.cli.output import CommandError
from ostiary.storage.errors import causes, describe, is_database_error


class DatabaseFailure(CommandError):
    """The database named by the settings could not be used."""


def where(url: URL) -> str:
    """The database as an operator names it, never with its password."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database}"
    host = url.host or "localhost"
    return f"PostgreSQL at {host}:{url.port or 5432}"


def explain(exc: BaseException, database_url: str) -> str | None:
    """A one-line reason for a failure to reach or open the database, or None when ``exc``
    is something else."""
    url = make_url(database_url)
    place = where(url)
    for cause in causes(exc):
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return (
                f"{place}: database {url.database!r} does not exist (create it: "
                f"createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
                f"-U {url.username or 'postgres'} {url.database})"
            )
        if isinstance(
            cause,
            asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError,
        ):
            # PostgreSQL's own words name the role or the pg_hba.conf rule; never a password.
            return f"{place} refused the login: {cause}"
        if isinstance(cause, socket.gaierror):
            return f"cannot connect to {place}: unknown host ({cause.strerror})"
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot connect to {place}: connection refused"
        if isinstance(cause, TimeoutError):
            return f"cannot connect to {place}: timed out"
        if isinstance(cause, OSError) and "Connect call failed" in str(cause):
            return f"cannot connect to {place}: connection refused"
        if isinstance(cause, sqlite3.DatabaseError):
            code = getattr(cause, "sqlite_errorname", "")
            if code == "SQLITE_NOTADB":
                return f"{url.database} is not a SQLite database file"
            if code == "SQLITE_CANTOPEN":
                return f"cannot open {place}: no such file, or no permission"
            if code in ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"):
                return f"cannot write {place}: no permission"
    return None


def unexpected(exc: BaseException) -> str:
    """The line for a failure nobody foresaw: its kind, without values a database error
    message could quote."""
    if is_database_error(exc):
        return f"database error: {describe(exc)}"
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
