"""What the request observer costs on the token endpoint, in process (no HTTP).

    .venv/bin/python bench/observability_overhead.py [--backend sqlite|postgresql]
        [-n 2000] [--rounds 6] [--block 100] [--concurrency 1] [--legacy DIR]

Drives ``POST /token`` (client_credentials, an ES256 JWT) through the whole ASGI app,
middleware included, on a fresh database seeded with ``ostiary dev seed``, for several
builds of the same app, interleaved round after round:

- ``none``: no observability middleware (the app as it was before it existed);
- ``metrics``: request id and Prometheus metrics, the request log off;
- ``metrics+log``: as configured by default, with the request log on, written as JSON
  through the handler ``ostiary serve`` sets up (``log_config``), to /dev/null;
- ``legacy`` (with ``--legacy DIR``, DIR holding an earlier ``middleware.py`` and
  ``metrics.py`` of ``src/ostiary/observability``): that middleware and its metrics, its
  log line through a ``logging.StreamHandler`` to /dev/null, as it was configured then.

Requests go one after another (``--concurrency`` at a time), and the event loop runs
between them as a server's does (the audit batch and the log batches are written there).
In each round every build answers ``-n`` requests, in turns of ``--block`` requests, so
that load from elsewhere on a shared machine, which comes and goes, falls on all builds
alike. It prints the CPU time of this process per request (``time.process_time``) for
each build and round, and per round the ratio of each build to ``none``, with their
medians: the figure to read.

On a machine shared with other work those ratios still vary by ±10 % from run to run.
Instructions executed vary far less: ``--callgrind BUILD`` runs one build under valgrind
and counts only the requests (bench/README.md has the commands).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import logging
import logging.config
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware

from ostiary.cli.dev import seed
from ostiary.observability.logging_setup import JsonFormatter, log_config
from ostiary.observability.request_id import RequestIds
from ostiary.observability.wiring import Observability
from ostiary.settings import LogSettings, load_settings
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


class Legacy:
    """An earlier observer: its middleware and metrics modules, loaded from DIR."""

    def __init__(self, directory: Path) -> None:
        self.metrics = _load("legacy_observer_metrics", directory / "metrics.py")
        self.middleware = _load("legacy_observer_middleware", directory / "middleware.py")
        # Its log line as it was written then: a StreamHandler (a write and a flush per
        # record) with the JSON format, on a logger of its own.
        logger = logging.getLogger("legacy.ostiary.request")
        sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
        sink.setFormatter(JsonFormatter())
        logger.addHandler(sink)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        self.middleware.log = logger


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build(url: str, secret_key: str, variant: str, legacy: Legacy | None) -> Starlette:
    settings = load_settings(
        database_url=url,
        issuer="http://127.0.0.1:9",
        secret_key=secret_key,
        rate_limits={"enabled": False},
        log={"requests": variant == "metrics+log", "format": "json"},
    )
    if variant in ("metrics", "metrics+log"):
        return create_app(settings)
    original = Observability.middleware

    def legacy_stack(self: Observability) -> list[Middleware]:
        assert legacy is not None
        # The earlier Metrics in place of this one: the audit observer list gets it too.
        self.metrics = legacy.metrics.Metrics(self._node)
        return [
            Middleware(
                legacy.middleware.ObserveRequests,
                routes=self.routes,
                ids=RequestIds(settings.trusted_proxies),
                metrics=self.metrics,
                log_requests=True,
            )
        ]

    def no_stack(self: Observability) -> list[Middleware]:
        return []

    stack = legacy_stack if variant == "legacy" else no_stack
    Observability.middleware = stack  # type: ignore[method-assign]
    try:
        return create_app(settings)
    finally:
        Observability.middleware = original  # type: ignore[method-assign]


async def requests(app: Starlette, authorization: bytes, n: int, concurrency: int) -> None:
    for _ in range(n // concurrency):
        if concurrency == 1:
            await token_request(app, authorization)
        else:
            await asyncio.gather(*(token_request(app, authorization) for _ in range(concurrency)))
        # The loop runs between requests, as a server's does: the audit batch is written
        # every second and the log batch every iteration.
        await asyncio.sleep(0)


async def measure(
    url: str, args: argparse.Namespace, legacy: Legacy | None
) -> dict[str, list[float]]:
    n, rounds, block, concurrency = args.n, args.rounds, args.block, args.concurrency
    secret_key = secrets.token_urlsafe(48)
    variants = ["none", "metrics", "metrics+log", *(["legacy"] if legacy else [])]
    if args.callgrind:
        variants = [args.callgrind]
    apps = {v: build(url, secret_key, v, legacy) for v in variants}
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    results: dict[str, list[float]] = {v: [] for v in variants}
    lifespans = {v: Lifespan(app) for v, app in apps.items()}
    for lifespan in lifespans.values():
        await lifespan.__aenter__()
    try:
        services = next(iter(apps.values())).state.services
        seeded = await seed(services, users=1, clients=1, tokens=0, prefix=uuid.uuid4().hex[:6])
        basic = f"{seeded.client_ids[0]}:{seeded.client_secret}".encode()
        authorization = b"Basic " + base64.b64encode(basic)
        for app in apps.values():
            for _ in range(50):  # caches, prepared statements
                assert await token_request(app, authorization) == 200
        if args.callgrind:
            (app,) = apps.values()
            _instrument("on")
            await requests(app, authorization, n, concurrency)
            _instrument("off")
            return results
        order = list(apps.items())
        for _ in range(rounds):
            spent = dict.fromkeys(apps, 0.0)
            # Small blocks, the builds taking turns (each block starting with the next
            # build): load from elsewhere that comes and goes falls on all of them alike.
            for turn in range(n // block):
                shift = turn % len(order)
                for variant, app in order[shift:] + order[:shift]:
                    cpu = time.process_time()
                    await requests(app, authorization, block, concurrency)
                    spent[variant] += time.process_time() - cpu
            for variant, seconds in spent.items():
                results[variant].append(seconds / (n // block * block) * 1e6)
    finally:
        for lifespan in lifespans.values():
            await lifespan.__aexit__()
    return results


def _instrument(state: str) -> None:
    """Under valgrind's callgrind: count instructions only while requests are answered."""
    command = ["callgrind_control", "--instr=" + state, str(os.getpid())]
    subprocess.run(command, check=True, capture_output=True)
    time.sleep(1)  # callgrind takes the command at its next check


def log_like_serve() -> None:
    """The logging ``ostiary serve`` sets up (JSON, info), writing to /dev/null."""
    logging.config.dictConfig(log_config(LogSettings(format="json")))
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--block", type=int, default=100, help="requests per turn")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--legacy", type=Path, help="directory of an earlier observer")
    parser.add_argument(
        "--callgrind",
        choices=["none", "metrics", "metrics+log", "legacy"],
        help="run only this build, -n requests, with callgrind's instrumentation on just "
        "for them (run under valgrind --tool=callgrind --instr-atstart=no)",
    )
    args = parser.parse_args()
    log_like_serve()
    if args.callgrind == "legacy" and not args.legacy:
        parser.error("--callgrind legacy needs --legacy DIR")
    legacy = Legacy(args.legacy) if args.legacy else None
    name = f"ostiary_bench_{uuid.uuid4().hex[:8]}"
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:////tmp/{name}.db"
    else:
        asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        results = asyncio.run(measure(url, args, legacy))
    finally:
        if args.backend == "postgresql":
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(f"/tmp/{name}.db{suffix}"):
                    os.remove(f"/tmp/{name}.db{suffix}")
    if not args.callgrind:
        report(args, results)


def report(args: argparse.Namespace, results: dict[str, list[float]]) -> None:
    print(
        f"POST /token client_credentials, {args.backend}, {args.n} requests x {args.rounds} "
        f"rounds per build, in turns of {args.block}, {args.concurrency} at a time"
    )
    print("CPU µs per request, round by round:")
    for variant, rounds in results.items():
        print(f"  {variant:12} " + " ".join(f"{r:7.1f}" for r in rounds))
    print("ratio to none within each round, and the median:")
    base = results["none"]
    for variant, rounds in results.items():
        ratios = [r / b for r, b in zip(rounds, base, strict=True)]
        print(
            f"  {variant:12} "
            + " ".join(f"{r:7.3f}" for r in ratios)
            + f"   median x{statistics.median(ratios):.3f}"
            + f"   (best round {min(rounds):.1f} µs)"
        )


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
