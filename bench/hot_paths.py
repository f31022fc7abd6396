"""Statements and CPU per request on the database-bound hot paths, in process.

    .venv/bin/python bench/hot_paths.py [--backend postgresql|sqlite] [-n 2000]

Calls the protocol code the HTTP endpoints call (``token_endpoint.token``,
``introspection.introspect``) with raw request bodies, one request after another, on a
fresh database seeded with ``ostiary dev seed``: refresh-token rotation, a code redemption
(with PKCE-less confidential client, offline_access: access + refresh token), and
introspection of a JWT access token and of a refresh token. For each it prints the database
statements per request (what SQLAlchemy executed plus what reached the driver directly,
including BEGIN/COMMIT/ROLLBACK on PostgreSQL, every statement SQLite ran) and the CPU time
of this process per request (``time.process_time``: insensitive to other load on the
machine, unlike a throughput figure). No HTTP, no client authentication cost beyond the
cached client: the database layer is what it isolates.

Run it against another tree to compare: ``PYTHONPATH=/path/to/other/src python bench/...``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy import event

from ostiary.cli.dev import REDIRECT_URI, seed
from ostiary.crypto.tokens import digest
from ostiary.oauth import introspection, token_endpoint
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


class Counter:
    """Statements sent to the database, whichever layer sent them."""

    def __init__(self) -> None:
        self.count = 0

    def attach(self, services: Services) -> None:
        engine = services.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def sqlalchemy_statement(*_args: Any) -> None:
            if engine.dialect.name == "postgresql":
                self.count += 1  # prepared statements: asyncpg's logger does not see them

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            driver = dbapi_connection.driver_connection
            if engine.dialect.name == "postgresql":
                driver.add_query_logger(lambda _q: self.bump())
            else:
                # aiosqlite's thread runs the sqlite3 connection: trace every statement.
                driver._conn.set_trace_callback(lambda _sql: self.bump())

    def bump(self) -> None:
        self.count += 1


async def measure(
    name: str, counter: Counter, n: int, one: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    for i in range(min(50, n // 10)):  # warm caches and prepared statements
        await one(n + i)
    before, cpu, wall = counter.count, time.process_time(), time.perf_counter()
    for i in range(n):
        await one(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "workload": name,
        "requests": n,
        "statements_per_request": round((counter.count - before) / n, 2),
        "cpu_us_per_request": round(cpu / n * 1e6),
        "requests_per_cpu_second": round(n / cpu),
        "wall_us_per_request": round(wall / n * 1e6),
    }


async def add_code(services: Services, client_id: str, user_id: str) -> str:
    code = secrets.token_urlsafe(32)
    await services.store.codes.add(
        code_hash=digest(code),
        client_id=client_id,
        user_id=user_id,
        session_hash=None,
        redirect_uri=REDIRECT_URI,
        redirect_uri_given=True,
        scopes=["offline_access", "read"],
        code_challenge=None,
        auth_time=int(time.time()),
        ttl=600,
    )
    return code


async def run(url: str, n: int) -> list[dict[str, Any]]:
    settings = load_settings(
        database_url=url,
        issuer="http://127.0.0.1:9",
        secret_key=secrets.token_urlsafe(48),
        # One address drives every request: no per-address limits (bench/README.md).
        rate_limits={"enabled": False},
    )
    services = build_services(settings)
    counter = Counter()
    counter.attach(services)
    try:
        await upgrade(services.engine)
        await services.keys.ensure(services.signing_algs())
        warm = min(50, n // 10)
        seeded = await seed(
            services, users=1, clients=1, tokens=n + warm + 1, prefix="hot", keep_tokens=True
        )
        client_id = seeded.client_ids[0]
        basic = base64.b64encode(f"{client_id}:{seeded.client_secret}".encode()).decode()
        auth = f"Basic {basic}"
        tokens = seeded.refresh_tokens
        cc = await token_endpoint.token(services, b"grant_type=client_credentials", auth)
        jwt = cc["access_token"]
        live_refresh = tokens.pop()
        codes = [await add_code(services, client_id, seeded.user_ids[0]) for _ in range(n + warm)]

        async def refresh(i: int) -> None:
            body = f"grant_type=refresh_token&refresh_token={tokens[i]}".encode()
            await token_endpoint.token(services, body, auth)

        async def redeem(i: int) -> None:
            body = (
                f"grant_type=authorization_code&code={codes[i]}&redirect_uri={REDIRECT_URI}"
            ).encode()
            await token_endpoint.token(services, body, auth)

        async def introspect_jwt(_i: int) -> None:
            result = await introspection.introspect(services, f"token={jwt}".encode(), auth)
            assert result["active"] is True

        async def introspect_refresh(_i: int) -> None:
            body = f"token={live_refresh}".encode()
            result = await introspection.introspect(services, body, auth)
            assert result["active"] is True

        return [
            await measure("refresh rotation", counter, n, refresh),
            await measure("code redemption", counter, n, redeem),
            await measure("introspect JWT", counter, n, introspect_jwt),
            await measure("introspect refresh token", counter, n, introspect_refresh),
        ]
    finally:
        await services.close()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("-n", type=int, default=2000, help="requests per workload")
    args = parser.parse_args(argv)
    if args.backend == "postgresql":
        name = f"ostiary_hot_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            rows = asyncio.run(run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args.n))
        finally:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="ostiary-hot-") as tmp:
            rows = asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/hot.db", args.n))
    print(f"{'workload':26} {'statements':>10} {'CPU µs':>8} {'req/CPU-s':>10} {'wall µs':>8}")
    for r in rows:
        print(
            f"{r['workload']:26} {r['statements_per_request']:10.2f} "
            f"{r['cpu_us_per_request']:8d} {r['requests_per_cpu_second']:10d} "
            f"{r['wall_us_per_request']:8d}"
        )
    print(json.dumps({"backend": args.backend, "results": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
