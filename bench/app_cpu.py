"""CPU per client_credentials token request inside the app, without HTTP, and its profile.

    .venv/bin/python bench/app_cpu.py [-n 5000] [--rounds 3] [--profile]

Builds the app as ``ostiary serve`` does over a fresh SQLite file seeded with one
confidential client, runs its lifespan, then calls the ASGI app directly with the same
``POST /token`` (client_credentials, HTTP Basic) ``n`` times per round, pinned to core 0.
Prints CPU microseconds per request (``time.process_time``: insensitive to other load) for
each round and their median; ``--profile`` adds cProfile's top functions by own time.
What it leaves out (uvicorn's protocol, about 33 µs a request, see
``http_protocol_overhead.py``, and the kernel's socket work) is the same for any change to
the app. Compare two trees with ``PYTHONPATH=/path/to/other/src``, rounds interleaved by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ostiary.cli.dev import seed
from ostiary.events import MAX_QUEUE
from ostiary.services import build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade
from ostiary.web.app import create_app

BODY = b"grant_type=client_credentials&scope=read"


async def run(args: argparse.Namespace, workdir: Path) -> list[float]:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'app.db'}",
        issuer="http://127.0.0.1:9",
        secret_key=secrets.token_urlsafe(48),
    )
    services = build_services(settings)
    await upgrade(services.engine)
    seeded = await seed(services, users=1, clients=1, prefix="app-cpu")
    app = create_app(settings, services)
    basic = f"{seeded.client_ids[0]}:{seeded.client_secret}".encode()
    headers = [
        (b"host", b"127.0.0.1:9"),
        (b"authorization", b"Basic " + base64.b64encode(basic)),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    task = asyncio.create_task(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            lifespan.get,
            lifespan_send,
        )
    )
    await lifespan.put({"type": "lifespan.startup"})
    await started.wait()
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/token",
        "raw_path": b"/token",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 9),
    }

    async def requests(n: int) -> None:
        for _ in range(n):
            await app({**scope, "state": {}}, receive, send)

    await requests(500)  # warm the caches the server warms with its first requests
    await services.audit.flush()
    per_request = []
    profile = cProfile.Profile() if args.profile else None
    for _ in range(args.rounds):
        before = time.process_time()
        if profile:
            profile.enable()
        await requests(args.n)
        # The audit events the round queued are written in its time, as a server under
        # load writes them each second (more than MAX_QUEUE a round would drop some).
        await services.audit.flush()
        if profile:
            profile.disable()
        per_request.append((time.process_time() - before) / args.n * 1e6)
    if statuses != {200}:
        raise SystemExit(f"answers other than 200: {sorted(statuses)}")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    await lifespan.put({"type": "lifespan.shutdown"})
    await task
    return per_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile's top 30 (slower)")
    args = parser.parse_args(argv)
    if args.n + 500 > MAX_QUEUE:
        parser.error(f"-n above {MAX_QUEUE - 500} would drop audit events (events.MAX_QUEUE)")
    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory(prefix="ostiary-app-cpu-") as tmp:
        rounds = asyncio.run(run(args, Path(tmp)))
    figures = ", ".join(f"{r:.1f}" for r in rounds)
    median = statistics.median(rounds)
    print(f"client_credentials in the app: {median:.1f} µs CPU per request ({figures})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
