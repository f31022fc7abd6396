"""Fixtures shared by end-to-end files: the federation upstream, a server without
passwords, and a multi-worker ``ostiary serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET_KEY, LiveServer, free_port, server_settings, start_server
from tests.e2e.processes import ServerProcess, Servers, clean_env
from tests.e2e.upstream_authlib import AuthlibProvider, running_provider

# Server processes of the ``cluster`` fixture.
WORKERS = 2


@pytest.fixture(scope="module")
def upstream() -> Iterator[AuthlibProvider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture(scope="module")
def no_passwords(database_url: str) -> Iterator[LiveServer]:
    """An Ostiary with local passwords switched off (OSTIARY_LOCAL_LOGIN=false)."""
    port = free_port()
    live, stop = start_server(server_settings(database_url, port, local_login=False), port)
    yield live
    stop()


@pytest.fixture
def servers() -> Iterator[Servers]:
    """Starts ``ostiary serve`` processes; every one is stopped at the end of the test."""
    pool = Servers()
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def cluster(
    database_url: str, tmp_path: Path, servers: Servers
) -> tuple[ServerProcess, dict[str, str]]:
    """``ostiary serve --workers 2`` on the run's database, and its environment."""
    port = free_port()
    env = clean_env(
        OSTIARY_DATABASE_URL=database_url,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        # An hour: only the invalidation channel, never expiry, can explain a refusal.
        OSTIARY_CACHE__CLIENT_TTL="3600",
        # The database is shared with the rest of the run: this test's deliberate failed
        # client authentications must not lock 127.0.0.1 out of every other server on it.
        OSTIARY_LOCKOUT__ACCOUNT_THRESHOLD="100000",
        OSTIARY_LOCKOUT__IP_THRESHOLD="100000",
    )
    server = servers.start("--workers", str(WORKERS), port=port, env=env, cwd=tmp_path)
    return server, env
