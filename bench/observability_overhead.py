"""What the request observer costs on the token endpoint, in process (no HTTP).

    .venv/bin/python bench/observability_overhead.py [--backend sqlite|postgresql]
        [-n 3000] [--rounds 5]

Drives ``POST /token`` (client_credentials, an ES256 JWT) through the whole ASGI app,
middleware included, one request after another, on a fresh database seeded with
``ostiary dev seed``, for three builds of the same app, interleaved round after round:

- ``before``: no observability middleware (the app as it was before it existed);
- ``metrics``: request id and Prometheus metrics, the request log off;
- ``metrics+log``: as configured by default, with the request log written as JSON to
  /dev/null (formatting and writing a line included).

It prints the CPU time of this process per request (``time.process_time``: insensitive
to other load on the machine) for each build and round, the best round of each, and the
ratios to ``before``. The machine-to-machine endpoints' budget is microseconds; the
observer must stay within a few percent of it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from starlette.applications import Starlette

from ostiary.cli.dev import seed
from ostiary.observability.logging_setup import JsonFormatter
from ostiary.observability.wiring import Observability
from ostiary.settings import load_settings
from ostiary.storage.engine import create_engine
from ostiary.storage.migrate import upgrade
from ostiary.web.app import create_app

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Lifespan:
    """Runs an app's lifespan in a task: started on enter, shut down on exit."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> Starlette:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self.inbox.put({"type": "lifespan.startup"})
        message = await self.outbox.get()
        assert message["type"] == "lifespan.startup.complete", message
        return self.app

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.outbox.get()
        await self.task


async def token_request(app: Starlette, authorization: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/token",
        "raw_path": b"/token",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"authorization", authorization),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    body = {"type": "http.request", "body": b"grant_type=client_credentials", "more_body": False}
    status = 0

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def build(url: str, secret_key: str, variant: str) -> Starlette:
    settings = load_settings(
        database_url=url,
        issuer="http://127.0.0.1:9",
        secret_key=secret_key,
        rate_limits={"enabled": False},
        log={"requests": variant == "metrics+log"},
    )
    if variant != "before":
        return create_app(settings)
    original = Observability.middleware
    Observability.middleware = lambda self: []  # type: ignore[method-assign]
    try:
        return create_app(settings)
    finally:
        Observability.middleware = original  # type: ignore[method-assign]


async def measure(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    secret_key = secrets.token_urlsafe(48)
    variants = ["before", "metrics", "metrics+log"]
    apps = {v: build(url, secret_key, v) for v in variants}
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    results: dict[str, list[float]] = {v: [] for v in variants}
    async with (
        Lifespan(apps["before"]) as before,
        Lifespan(apps["metrics"]) as metrics,
        Lifespan(apps["metrics+log"]) as logged,
    ):
        seeded = await seed(
            before.state.services, users=1, clients=1, tokens=0, prefix=uuid.uuid4().hex[:6]
        )
        basic = f"{seeded.client_ids[0]}:{seeded.client_secret}".encode()
        authorization = b"Basic " + base64.b64encode(basic)
        running = {"before": before, "metrics": metrics, "metrics+log": logged}
        for app in running.values():
            for _ in range(50):  # caches, prepared statements
                assert await token_request(app, authorization) == 200
        for _ in range(rounds):
            for variant, app in running.items():
                cpu = time.process_time()
                for _ in range(n):
                    await token_request(app, authorization)
                results[variant].append((time.process_time() - cpu) / n * 1e6)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # The request log at info, JSON, to /dev/null: its whole cost, none of a terminal's.
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    sink.setFormatter(JsonFormatter())
    logging.getLogger("ostiary.request").addHandler(sink)
    logging.getLogger("ostiary.request").setLevel(logging.INFO)
    logging.getLogger("ostiary.request").propagate = False
    name = f"ostiary_bench_{uuid.uuid4().hex[:8]}"
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:////tmp/{name}.db"
    else:
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        results = asyncio.run(measure(url, args.n, args.rounds))
    finally:
        if args.backend == "postgresql":
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(f"/tmp/{name}.db{suffix}"):
                    os.remove(f"/tmp/{name}.db{suffix}")
    best = {v: min(r) for v, r in results.items()}
    print(
        f"POST /token client_credentials, {args.backend}, {args.n} requests x {args.rounds} rounds"
    )
    print("CPU µs per request, round by round (interleaved):")
    for variant, rounds in results.items():
        print(f"  {variant:12} " + " ".join(f"{r:7.1f}" for r in rounds))
    for variant, value in best.items():
        ratio = value / best["before"]
        print(f"  best {variant:12} {value:7.1f} µs  x{ratio:.3f} of before")


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
