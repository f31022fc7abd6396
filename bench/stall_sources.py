"""How long each suspected source of a stall holds the event loop, before and after its fix.

    .venv/bin/python bench/stall_sources.py [--events 5000] [--rounds 3]

In one process pinned to core 0, with the server's heap (the app and its services built
as ``ostiary serve`` builds them, on a fresh SQLite file and a fresh PostgreSQL database):

- a full garbage collection (``gc.collect(2)``) of that heap, then the same after
  ``gc.freeze()`` (what ``gc.freeze``, on by default, does once start-up is done);
- the audit log's flush of ``--events`` queued events (a second's worth of token
  requests), written in one statement and in the repository's slices
  (``storage/repos/audit.py`` ``BATCH_SLICE``), on SQLite and PostgreSQL, while a task
  asks to wake every millisecond: the worst delay it saw is the stall every request then
  in flight shared;
- the retention purge (``ostiary.retention.purge``, every 10 minutes) over ``--expired``
  expired refresh tokens and as many audit events past their retention, and the rate
  limits' exchange of counts (``RateLimiter.sync``, every second) for ``--addresses``
  client addresses, measured the same way.

Prints one line per measurement and a JSON document. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from ostiary import retention
from ostiary.cli.dev import seed
from ostiary.limits import limiter as limiter_module
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage import tables
from ostiary.storage.migrate import upgrade
from ostiary.storage.repos import audit as audit_repo
from ostiary.web.app import create_app

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
audit_repo_slice = audit_repo.BATCH_SLICE
exchange_slice = limiter_module.EXCHANGE_SLICE


async def worst_stall_during(work: Any) -> tuple[float, float]:
    """Run ``work()`` while a task asks to wake every millisecond: (seconds ``work`` took,
    the longest any wake-up was late)."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def sampler() -> None:
        nonlocal worst
        while not done:
            asked = loop.time() + 0.001
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - asked)

    task = asyncio.create_task(sampler())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await work()
    took = time.perf_counter() - started
    done = True
    await task
    return took, worst


async def flush_stalls(services: Services, events: int, sliced: bool) -> tuple[float, float]:
    for _ in range(events):
        services.audit.later(
            "token.issued",
            actor="client:bench",
            client_id="bench",
            details={"grant_type": "client_credentials", "scope": "read"},
        )
    # The slice size is the repository's; a slice as large as the batch is the old way.
    audit_repo.BATCH_SLICE = audit_repo_slice if sliced else events
    try:
        return await worst_stall_during(services.audit.flush)
    finally:
        audit_repo.BATCH_SLICE = audit_repo_slice


async def purge_stalls(services: Services, expired: int) -> tuple[float, float]:
    """Seed ``expired`` refresh tokens and audit events, age them past every retention,
    then time the purge that removes them."""
    await seed(services, users=1, clients=1, tokens=expired, prefix=f"purge-{uuid.uuid4().hex[:6]}")
    for i in range(expired):
        services.audit.later("token.issued", actor="client:bench", client_id="bench")
        if i % 1000 == 999:  # the queue is bounded; a real server flushes every second
            await services.audit.flush()
    await services.audit.flush()
    async with services.engine.begin() as conn:
        await conn.execute(sa.update(tables.refresh_tokens).values(expires_at=1))
        await conn.execute(sa.update(tables.audit_events).values(at=1))

    async def work() -> None:
        removed = await retention.purge(services)
        assert removed["refresh_tokens"] >= expired and removed["audit_events"] >= expired

    return await worst_stall_during(work)


async def sync_stalls(services: Services, addresses: int) -> tuple[float, float]:
    """Count one authorization request from each of ``addresses`` addresses (a second of a
    busy node's traffic, every request from a new address), then time the exchange that
    sends every counter to the shared store."""
    for i in range(addresses):
        services.limits.hit("authorize", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    return await worst_stall_during(services.limits.sync)


def full_collection_seconds(rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        gc.collect(2)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def measure(url: str, args: argparse.Namespace, out: dict[str, Any], name: str) -> None:
    settings = load_settings(
        database_url=url, issuer="http://127.0.0.1:9", secret_key=secrets.token_urlsafe(48)
    )
    services = build_services(settings)
    try:
        await upgrade(services.engine)
        # The server's heap: the app, its routes, templates and the services' caches.
        create_app(settings, services)
        await services.keys.ensure(services.signing_algs())
        # As the server does once started, so a full collection of the start-up heap is
        # not mistaken for the stall of what is measured.
        gc.collect()
        gc.freeze()
        for sliced in (False, True):
            label = f"audit flush of {args.events} events, {name}, " + (
                f"slices of {audit_repo_slice}" if sliced else "one statement"
            )
            runs = [await flush_stalls(services, args.events, sliced) for _ in range(args.rounds)]
            report(out, f"flush/{name}/{'sliced' if sliced else 'whole'}", label, runs)
        for sliced in (False, True):
            label = f"rate-limit exchange, {args.addresses} addresses, {name}, " + (
                f"slices of {exchange_slice}" if sliced else "one statement"
            )
            # A slice as large as the exchange is the old way.
            limiter_module.EXCHANGE_SLICE = exchange_slice if sliced else args.addresses
            try:
                runs = [await sync_stalls(services, args.addresses) for _ in range(args.rounds)]
            finally:
                limiter_module.EXCHANGE_SLICE = exchange_slice
            report(out, f"sync/{name}/{'sliced' if sliced else 'whole'}", label, runs)
        runs = [await purge_stalls(services, args.expired) for _ in range(args.rounds)]
        label = f"retention purge of {args.expired} tokens + events, {name}"
        report(out, f"purge/{name}", label, runs)
    finally:
        await services.close()


def report(out: dict[str, Any], key: str, label: str, runs: list[tuple[float, float]]) -> None:
    took = statistics.median(r[0] for r in runs)
    worst = max(r[1] for r in runs)
    print(f"{label:70} took {took * 1000:6.1f} ms, loop stalled {worst * 1000:5.1f} ms")
    out[key] = {"took_ms": round(took * 1000, 1), "worst_stall_ms": round(worst * 1000, 1)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ostiary-stalls-") as tmp:
        await measure(f"sqlite+aiosqlite:///{Path(tmp) / 'stalls.db'}", args, out, "sqlite")
    name = f"ostiary_stalls_{uuid.uuid4().hex[:10]}"
    await pg(f'CREATE DATABASE "{name}"')
    try:
        await measure(
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args, out, "postgresql"
        )
    finally:
        await pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="audit events per flush")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each")
    parser.add_argument(
        "--expired", type=int, default=20000, help="expired tokens (and events) to purge"
    )
    parser.add_argument(
        "--addresses", type=int, default=5000, help="client addresses in one exchange"
    )
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {0})
    out = asyncio.run(main_async(args))
    # The heap the flushes left: a server's after start-up, plus its young objects.
    gc.unfreeze()
    objects = len(gc.get_objects())
    before = full_collection_seconds(args.rounds)
    gc.freeze()
    after = full_collection_seconds(args.rounds)
    print(f"full collection of {objects:,} tracked objects: {before * 1000:6.1f} ms")
    print(f"full collection after gc.freeze():{'':18}{after * 1000:6.1f} ms")
    out["gc_full"] = {
        "objects": objects,
        "unfrozen_ms": round(before * 1000, 2),
        "frozen_ms": round(after * 1000, 2),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
