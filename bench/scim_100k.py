"""Create N users through SCIM against a real `ostiary serve`, then time filtered queries.

    .venv/bin/python bench/scim_100k.py --users 10000 --backend sqlite
    .venv/bin/python bench/scim_100k.py --users 10000 --backend postgresql

The server runs as its own process pinned to core 0 (``bench/servers.py``); this script
is the provisioning client. It prints creates/s (with per-request p50/p99) and the
server's CPU time per create (a figure the machine's other load does not distort), and the
p50/p99 latency of `userName eq`, `emails[value co ...]`, `name.familyName sw` and a
paginated list deep into the result set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from servers import OSTIARY, free_port, start_ostiary

SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET_KEY = "bench-secret-key-" + "b" * 32


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database(backend: str, workdir: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'bench.db'}", None
    name = f"ostiary_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(OSTIARY), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def provisioning_client(env: dict[str, str]) -> tuple[str, str]:
    cli(env, "db", "upgrade")
    cli(env, "scope", "create", "scim")
    made = json.loads(
        cli(
            env,
            "client",
            "create",
            "--name",
            "bench-scim",
            "--grant-type",
            "client_credentials",
            "--scope",
            "scim",
            "--json",
        )
    )
    return made["client_id"], made["client_secret"]


def provisioning_token(issuer: str, client: tuple[str, str]) -> str:
    response = httpx.post(
        issuer + "/token",
        data={"grant_type": "client_credentials", "scope": "scim"},
        auth=client,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def user_body(i: int) -> dict[str, object]:
    return {
        "schemas": [SCHEMA],
        "userName": f"user{i:07d}",
        "externalId": f"ext-{i}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i % 997:03d}"},
        "emails": [{"value": f"user{i:07d}@corp{i % 50}.example", "type": "work", "primary": True}],
    }


async def create_all(base: str, token: str, n: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue = iter(range(n))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:

        async def worker() -> None:
            for i in queue:
                start = time.perf_counter()
                response = await http.post("/Users", json=user_body(i))
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()
                if len(latencies) % 5000 == 0:
                    print(f"  {len(latencies)} created", flush=True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed(http: httpx.Client, params: dict[str, str], runs: int) -> tuple[float, float, int]:
    samples, total = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = http.get("/Users", params=params)
        samples.append(time.perf_counter() - start)
        response.raise_for_status()
        total = response.json()["totalResults"]
    p50, p99 = percentiles(samples)
    return p50, p99, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="scim-bench-"))
    url, pg_name = database(args.backend, workdir)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(OSTIARY_DATABASE_URL=url, OSTIARY_ISSUER=issuer, OSTIARY_SECRET_KEY=SECRET_KEY)
    client = provisioning_client(env)
    server = start_ostiary("ostiary", url, port, SECRET_KEY, workdir / "server.log")
    try:
        token = provisioning_token(issuer, client)
        base = issuer + "/scim/v2"
        cpu_before = cpu_seconds(server.proc.pid)
        start = time.perf_counter()
        latencies = asyncio.run(create_all(base, token, args.users, args.concurrency))
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(server.proc.pid) - cpu_before
        p50, p99 = percentiles(latencies)
        print(f"backend={args.backend} users={args.users} concurrency={args.concurrency}")
        print(
            f"create               {args.users / elapsed:7.0f}/s  p50={p50:.1f}ms p99={p99:.1f}ms"
        )
        # What the server spent, whatever else the machine was doing: 1000 / (ms per create)
        # is the rate one free core would sustain.
        per_create = cpu * 1000 / args.users
        print(
            f"server CPU           {per_create:7.2f} ms/create "
            f"(~{1000 / per_create:.0f}/s on a free core); load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        middle = args.users // 2
        queries = {
            "userName eq": {"filter": f'userName eq "USER{middle:07d}"'},
            "emails[value co]": {"filter": f'emails[value co "{middle:07d}@"]'},
            "name.familyName sw": {"filter": 'name.familyName sw "family01"', "count": "50"},
            "list page (middle)": {"startIndex": str(middle), "count": "50"},
        }
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=auth, timeout=60) as http:
            for label, params in queries.items():
                q50, q99, total = timed(http, params, args.runs)
                print(f"{label:20s} p50={q50:7.1f}ms p99={q99:7.1f}ms totalResults={total}")
    finally:
        server.stop()
        if pg_name:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
