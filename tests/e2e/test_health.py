"""/health/live and /health/ready against real databases: ready only when the database
answers, its schema is at this code's migration head and the signing keys are loaded;
otherwise 503 naming the failed checks, with Retry-After and no caching (RFC 9110
§15.6.4, §10.2.3)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory

from ostiary.storage.migrate import alembic_config
from tests.conftest import LiveServer, free_port, server_settings, start_server
from tests.databases import migrate
from tests.e2e.private_postgres import PrivatePostgres, private_postgres


def assert_not_ready(response: httpx.Response, *failed: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == list(failed), body
    for name, state in body["checks"].items():
        assert (state == "ok") is (name not in failed), body


def test_live_and_ready_on_a_healthy_server(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        live = http.get("/health/live")
        assert live.status_code == 200 and live.json() == {"status": "ok"}
        ready = http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.headers["cache-control"] == "no-store"
        assert ready.json() == {
            "status": "ok",
            "checks": {"database": "ok", "schema": "ok", "signing_keys": "ok"},
        }
        # Unchanged meaning for what already points at /health.
        assert http.get("/health").json() == {"status": "ok"}


def _sqlite(tmp_path: Path, revision: str = "head") -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/ostiary.db"
    asyncio.run(migrate(url, revision))
    return url


def test_not_ready_while_the_schema_is_behind(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    url = _sqlite(tmp_path, previous)
    port = free_port()
    live, stop = start_server(server_settings(url, port), port)
    try:
        with httpx.Client(base_url=live.base_url, timeout=10) as http:
            assert http.get("/health/live").status_code == 200
            not_ready = http.get("/health/ready")
            assert_not_ready(not_ready, "schema")
            assert "ostiary db upgrade" in not_ready.json()["checks"]["schema"]
            asyncio.run(migrate(url))
            assert http.get("/health/ready").status_code == 200
    finally:
        stop()


def test_not_ready_without_signing_keys(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    port = free_port()
    # keys.cache_ttl is 1 s in server_settings: the deletion is seen within a second.
    live, stop = start_server(server_settings(url, port), port)
    try:
        with httpx.Client(base_url=live.base_url, timeout=10) as http:
            assert http.get("/health/ready").status_code == 200
            with sqlite3.connect(tmp_path / "ostiary.db") as db:
                db.execute("DELETE FROM signing_keys")
            time.sleep(1.2)
            assert_not_ready(http.get("/health/ready"), "signing_keys")
            assert http.get("/health/live").status_code == 200
    finally:
        stop()


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


def test_not_ready_while_the_database_is_down(pg: PrivatePostgres) -> None:
    async def create() -> None:
        conn = await asyncpg.connect(pg.url(driver="postgresql"))
        try:
            await conn.execute("CREATE DATABASE ready")
        finally:
            await conn.close()

    asyncio.run(create())
    url = pg.url("ready")
    asyncio.run(migrate(url))
    port = free_port()
    live, stop = start_server(server_settings(url, port), port)
    try:
        with httpx.Client(base_url=live.base_url, timeout=30) as http:
            assert http.get("/health/ready").status_code == 200
            pg.stop("fast")
            try:
                time.sleep(1.2)  # past keys.cache_ttl: the key ring cannot be reloaded either
                not_ready = http.get("/health/ready")
                assert not_ready.status_code == 503, not_ready.text
                assert not_ready.json()["failed"][0] == "database"
                assert not_ready.json()["checks"]["database"] == "unavailable"
                assert int(not_ready.headers["retry-after"]) > 0
                assert not_ready.headers["cache-control"] == "no-store"
                assert http.get("/health/live").status_code == 200
            finally:
                pg.start()
            assert http.get("/health/ready").status_code == 200
    finally:
        stop()
