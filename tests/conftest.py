"""Shared fixtures: a database per backend per run (tests/databases.py), and a real server on
a free port.

Every storage-touching test runs on SQLite and on PostgreSQL. PostgreSQL is required:
when it cannot be reached the run fails, unless OSTIARY_TEST_SKIP_POSTGRES=1 says to
skip it on purpose (ignored when CI is set). Outbound network access beyond loopback is
refused in every test process (tests/network_guard.py).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from ostiary.services import Services, build_services
from ostiary.settings import RATE_LIMIT_DEFAULTS, Settings, load_settings
from ostiary.web.app import create_app
from ostiary.web.http_protocol import protocol_class
from tests import databases, network_guard

T = TypeVar("T")
SECRET_KEY = "test-secret-key-" + "x" * 32


@pytest.fixture(scope="session", autouse=True)
def _no_outbound_network() -> Iterator[None]:
    """Every test process (each xdist worker) refuses connections beyond loopback."""
    network_guard.enable()
    yield
    network_guard.disable()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, migrated database for this run; dropped at the end."""
    with databases.fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


def pytest_sessionfinish(session: pytest.Session) -> None:
    databases.drop_templates()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", databases.BACKENDS, indirect=True, scope="session")


@dataclass
class LiveServer:
    """A real uvicorn serving Ostiary in a thread, with a way into its event loop."""

    base_url: str
    settings: Settings
    loop: asyncio.AbstractEventLoop
    app: Any

    @property
    def services(self) -> Services:
        return self.app.state.services

    def call(self, fn: Callable[[Services], Awaitable[T]]) -> T:
        """Run ``fn(services)`` in the server's loop (register clients, inspect rows)."""
        future = asyncio.run_coroutine_threadsafe(fn(self.services), self.loop)
        return future.result(timeout=30)


def start_server(
    settings: Settings, port: int, **options: Any
) -> tuple[LiveServer, Callable[[], None]]:
    """Ostiary under uvicorn in a thread, and the function that stops it. ``options`` go
    to ``uvicorn.Config`` (``ssl_certfile``/``ssl_keyfile`` serve HTTPS)."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        http=protocol_class(settings.http),
        timeout_keep_alive=settings.http.keep_alive_timeout,
        **options,
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, name=f"ostiary-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)

    async def drop_connections() -> None:
        # Closing a TLS transport waits for the peer's close_notify, which a client that
        # already went away (requests/urllib3 over TLS) never sends: abort them instead.
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def stop() -> None:
        if config.is_ssl:
            asyncio.run_coroutine_threadsafe(drop_connections(), loop).result(timeout=30)
        server.should_exit = True
        thread.join(timeout=30)
        if thread.is_alive():
            # Say what the server was still waiting for, then make it stop.
            stuck = asyncio.run_coroutine_threadsafe(_pending_tasks(), loop).result(10)
            server.force_exit = True
            thread.join(timeout=15)
            raise RuntimeError(f"test server did not shut down in 30 s; pending:\n{stuck}")
        loop.close()

    return LiveServer(settings.issuer, settings, loop, app), stop


async def _pending_tasks() -> str:
    lines = []
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            frames = task.get_stack(limit=8)
            where = " <- ".join(f"{f.f_code.co_filename}:{f.f_lineno}" for f in frames)
            lines.append(f"{task.get_name()}: {where}")
    return "\n".join(lines)


def server_settings(database_url: str, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "issuer": f"http://127.0.0.1:{port}",
        "secret_key": SECRET_KEY,
        "keys": {"publish_ahead": 0, "cache_ttl": 1},
        # Negative tests fail logins and client authentication on purpose, all from
        # 127.0.0.1; lockout tests start their own servers with low thresholds.
        "lockout": {"account_threshold": 100_000, "ip_threshold": 100_000},
        # Counted (the middleware runs on every test) but never reached by a test run, all
        # from 127.0.0.1; tests/e2e/test_rate_limits.py starts servers with low limits.
        "rate_limits": {group: {"requests": 10_000_000} for group in RATE_LIMIT_DEFAULTS},
        # A test process starts hundreds of servers: frozen objects are never collected, so
        # each server's start-up would stay in memory after it stopped.
        "gc": {"freeze": False},
    }
    values.update(overrides)
    return load_settings(**values)


@contextmanager
def own_server(database_url: str, **overrides: Any) -> Iterator[LiveServer]:
    """A server of its own on the run's database, with these settings."""
    port = free_port()
    live, stop = start_server(server_settings(database_url, port, **overrides), port)
    try:
        yield live
    finally:
        stop()


@asynccontextmanager
async def open_services(database_url: str, **overrides: Any) -> AsyncIterator[Services]:
    """The server's services over ``database_url``, without HTTP; closed at the end."""
    services = build_services(server_settings(database_url, 0, **overrides))
    try:
        yield services
    finally:
        await services.close()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Async tests and fixtures run on asyncio (the one event loop the server runs on)."""
    return "asyncio"


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[LiveServer]:
    port = free_port()
    live, stop = start_server(server_settings(database_url, port), port)
    yield live
    stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
