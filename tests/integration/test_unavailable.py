"""Which database errors mean "unavailable" (503 + Retry-After, RFC 9110 §15.6.4), how the
connection layers recover after the server dropped their connections, and what of a
database error reaches the log.

Real exceptions throughout: a refused connection, a backend terminated by
``pg_terminate_backend`` (SQLSTATE 57P01, the same a restart sends), SQLite's busy timeout,
QueuePool's timeout; the driver classes are instantiated only where the server cannot be
made to send them on demand (57P02, 57P03, 53300).
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ostiary.storage.engine import create_engine
from ostiary.storage.errors import describe, is_database_error, is_unavailable, unsent
from ostiary.storage.repos import _driver
from ostiary.storage.repos._driver import Driver
from tests.conftest import free_port
from tests.databases import PG_ADMIN_DSN

pytestmark = pytest.mark.anyio


def _raised_from(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.ConnectionFailureError("connection failure"),
        asyncpg.InterfaceError("connection is closed"),
        # The server's FATAL read on an idle connection before its socket closed.
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(32, "Broken pipe"),
        TimeoutError(),
        OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432, 0, 0)"),
        sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_rfc9110_15_6_4_unavailable_driver_errors(exc: BaseException) -> None:
    """SQLSTATE class 08, 57P01/57P02/57P03, 53300, a lost socket, a pool timeout."""
    assert is_unavailable(exc)
    wrapped = sa_exc.DBAPIError("SELECT 1", None, exc, connection_invalidated=False)  # type: ignore[arg-type]
    assert is_unavailable(wrapped)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.DataError("invalid input for query argument $1"),
        asyncpg.UndefinedTableError('relation "x" does not exist'),
        asyncpg.SerializationError("could not serialize access"),
        sqlite3.IntegrityError("UNIQUE constraint failed: users.username"),
        ValueError("not a database error"),
        asyncpg.exceptions.InternalClientError("unexpected message type"),
        # An outbound HTTP call that could not connect is no database outage.
        _raised_from(httpx.ConnectError("upstream down"), ConnectionRefusedError(111, "refused")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_of_the_request_are_not_unavailability(exc: BaseException) -> None:
    assert not is_unavailable(exc)


@pytest.mark.parametrize(
    ("exc", "sent"),
    [
        (asyncpg.InterfaceError("connection is closed"), False),
        (asyncpg.exceptions.InternalClientError("cannot switch to state 12; x"), False),
        (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle"), True),
        (asyncpg.AdminShutdownError("terminating connection"), True),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_only_errors_raised_before_sending_count_as_unsent(exc: BaseException, sent: bool) -> None:
    """A write may go again only when asyncpg refused it before writing a byte."""
    assert unsent(exc) is not sent


async def test_refused_connection_is_unavailable(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a refused TCP connection is PostgreSQL's case")
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    try:
        with pytest.raises(Exception) as core:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_unavailable(core.value)
        with pytest.raises(Exception) as hot:
            await Driver(engine).fetchrow("SELECT 1")
        assert is_unavailable(hot.value)
    finally:
        await engine.dispose()


async def test_sqlite_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    """SQLITE_BUSY after the busy timeout: another writer holds the file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    holder = create_async_engine(url)
    waiter = create_async_engine(url, connect_args={"timeout": 0.05})
    try:
        async with holder.connect() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.commit()
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            with pytest.raises(sa_exc.OperationalError) as busy:
                async with waiter.begin() as other:
                    await other.execute(text("INSERT INTO t VALUES (2)"))
            assert is_unavailable(busy.value)
            assert "sqlite=SQLITE_BUSY" in describe(busy.value)
    finally:
        await holder.dispose()
        await waiter.dispose()


async def test_pool_timeout_is_unavailable(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    try:
        async with engine.connect():
            with pytest.raises(sa_exc.TimeoutError) as timeout:
                async with engine.connect():
                    pass
        assert is_unavailable(timeout.value)
    finally:
        await engine.dispose()


# PostgreSQL: connections dropped by the server, as a restart drops them.


@pytest.fixture
async def tagged(database_url: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """An engine whose connections carry their own application_name, so a test can
    terminate exactly its own backends on the shared server."""
    if not database_url.startswith("postgresql"):
        pytest.skip("server-side connection termination is PostgreSQL's case")
    tag = f"ostiary-test-{uuid.uuid4().hex[:10]}"
    engine = create_engine(
        database_url, pool_size=4, connect_args={"server_settings": {"application_name": tag}}
    )
    yield engine, tag
    await engine.dispose()


async def terminate(tag: str) -> int:
    """``pg_terminate_backend`` (SQLSTATE 57P01 to the client, as in a fast shutdown) on
    every backend of ``tag``; waits until the clients have seen their sockets close."""
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            tag,
        )
        for _ in range(100):
            left = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", tag
            )
            if left == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the event loop reads each closed socket
    return len(rows)


async def test_terminated_backend_mid_statement_is_unavailable(
    tagged: tuple[AsyncEngine, str],
) -> None:
    engine, tag = tagged

    async def sleeper() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(5)"))

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0.3)
    assert await terminate(tag) == 1
    with pytest.raises(sa_exc.DBAPIError) as killed:
        await task
    assert is_unavailable(killed.value)
    assert "sqlstate=" in describe(killed.value)


async def test_pooled_connections_closed_by_the_server_are_replaced(
    tagged: tuple[AsyncEngine, str],
) -> None:
    """After a restart the pool's idle connections are dead: the next checkout replaces
    them instead of failing the request that gets one."""
    engine, tag = tagged
    async with engine.connect() as a, engine.connect() as b:
        await a.execute(text("SELECT 1"))
        await b.execute(text("SELECT 1"))
    assert await terminate(tag) == 2
    for _ in range(3):
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 7"))).scalar() == 7


async def test_held_hot_connections_closed_by_the_server_are_replaced(
    tagged: tuple[AsyncEngine, str],
) -> None:
    engine, tag = tagged
    driver = Driver(engine)

    async def one(i: int) -> int:
        row = await driver.fetchrow("SELECT $1::int + 1", i)
        assert row is not None
        return int(row[0])

    assert await asyncio.gather(*(one(i) for i in range(8))) == list(range(1, 9))
    held = _driver._held[engine.sync_engine][asyncio.get_running_loop()]
    assert held.idle
    assert await terminate(tag) >= 1
    assert await asyncio.gather(*(one(i) for i in range(8))) == list(range(1, 9))


async def test_a_read_is_retried_once_on_a_connection_lost_mid_block(
    tagged: tuple[AsyncEngine, str],
) -> None:
    """The connection dies between two statements of one lease: the read goes again on a
    fresh connection."""
    engine, tag = tagged
    driver = Driver(engine)
    async with driver.connection() as conn:
        assert (await conn.fetchrow("SELECT 1"))[0] == 1  # type: ignore[index]
        await terminate(tag)
        row = await conn.fetchrow("SELECT 2")
        assert row is not None and row[0] == 2


async def test_a_write_that_may_have_been_sent_is_not_retried(
    tagged: tuple[AsyncEngine, str],
) -> None:
    """Inside a transaction block nothing is sent again: the block fails as a whole, as
    unavailable, and the next lease works."""
    engine, tag = tagged
    driver = Driver(engine)
    with pytest.raises(Exception) as lost:
        async with driver.connection() as conn, conn.transaction():
            await conn.fetchrow("SELECT 1")
            await terminate(tag)
            await conn.fetchrow("SELECT 2")
    assert is_unavailable(lost.value)
    row = await driver.fetchrow("SELECT 3")
    assert row is not None and row[0] == 3


# What reaches the log.

SECRET = "s3cr3t-" + uuid.uuid4().hex


async def test_logged_database_errors_carry_no_values(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A unique violation's DETAIL and a data error quote the value; the log names the
    class, SQLSTATE and constraint only, whichever way the exception is logged."""
    engine = create_engine(database_url)
    table = f"t_{uuid.uuid4().hex[:8]}"
    log = logging.getLogger("ostiary.test")
    errors: list[BaseException] = []
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (u VARCHAR(200) UNIQUE, n INTEGER)"))
            await conn.execute(text(f"INSERT INTO {table} VALUES (:u, 1)"), {"u": SECRET})
            await conn.commit()
            try:
                await conn.execute(text(f"INSERT INTO {table} VALUES (:u, 2)"), {"u": SECRET})
            except sa_exc.IntegrityError as exc:
                errors.append(exc)
            await conn.rollback()
            if database_url.startswith("postgresql"):
                try:
                    await conn.execute(text("SELECT CAST(:v AS INTEGER)"), {"v": SECRET})
                except sa_exc.DBAPIError as exc:
                    errors.append(exc)
            await conn.rollback()
            await conn.execute(text(f"DROP TABLE {table}"))
            await conn.commit()
    finally:
        await engine.dispose()
    assert errors
    with caplog.at_level(logging.INFO, logger="ostiary.test"):
        for exc in errors:
            assert is_database_error(exc)
            try:
                raise exc
            except sa_exc.DBAPIError:
                log.exception("failed")
            log.info("failed: %s", exc)
            log.error(exc)
    logged = caplog.text
    assert SECRET not in logged
    assert "sqlstate=23505" in logged or "SQLITE_CONSTRAINT" in logged
    assert "Traceback" in logged  # the stack stays, the messages go
    for exc in errors:
        assert SECRET not in describe(exc)


def test_a_database_error_in_the_context_of_another_is_redacted_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that failed while handling a database error: the traceback prints both."""
    log = logging.getLogger("ostiary.test")
    with caplog.at_level(logging.ERROR, logger="ostiary.test"):
        try:
            try:
                raise asyncpg.UniqueViolationError(f"Key (username)=({SECRET}) already exists")
            except asyncpg.UniqueViolationError:
                raise RuntimeError(f"while storing {SECRET}") from None
        except RuntimeError as outer:
            # ``from None`` hides the context from the printout, not from the chain.
            outer.__suppress_context__ = False
            log.exception("failed")
    assert SECRET not in caplog.text
    assert "UniqueViolationError" in caplog.text and "(message withheld)" in caplog.text


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789@._-", min_size=10, max_size=40),
    how=st.sampled_from(["exception", "argument", "message", "context"]),
)
def test_no_value_in_any_logged_database_error(value: str, how: str) -> None:
    """Whatever the value and however the error is logged, the line never holds it."""
    value = "v" + value  # never a word the redacted line itself holds
    driver_error = asyncpg.UniqueViolationError(
        f'duplicate key value violates unique constraint "users_email_key" ({value})'
    )
    driver_error.detail = f"Key (email)=({value}) already exists."  # type: ignore[attr-defined]
    wrapped = sa_exc.IntegrityError(f"INSERT ... '{value}'", {"email": value}, driver_error)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("ostiary.test.hypothesis")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            try:
                raise wrapped from driver_error
            except sa_exc.IntegrityError:
                if how == "context":
                    raise KeyError(value) from None
                raise
        except Exception as exc:
            if how == "context":
                exc.__suppress_context__ = False
                log.exception("failed")
            elif how == "exception":
                log.exception("failed")
            elif how == "argument":
                log.warning("failed: %s / %r", exc, exc)
            else:
                log.error(exc)
    finally:
        log.removeHandler(handler)
    assert value not in stream.getvalue()
    assert "23505" in stream.getvalue()
