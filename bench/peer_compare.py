"""Ostiary side by side with node-oidc-provider 9, each pinned to the same core in turn.

    .venv/bin/python bench/peer_compare.py            # full run, about 7 minutes
    .venv/bin/python bench/peer_compare.py --quick    # smoke run, about 1.5 minutes

Installs wrk (Debian) and node-oidc-provider (npm, into bench/.peer/) when missing, runs
every workload with wrk pinned to core 1 while the server under test is pinned to core 0
(peer and Ostiary interleaved, best of N rounds), prints a table and a JSON document, and
exits 1 if any request got a non-2xx answer or a socket error. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import login_load
import servers
import wrk_runner

from ostiary.cli.dev import REDIRECT_URI, Seeded, seed
from ostiary.services import build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
# Refresh tokens minted per measured second and connection level (far above any rate seen:
# 4,837/s on one core in the fourth pass exhausted a pool of 4,000/s, which counts as errors).
REFRESH_POOL_RATE = 10_000


@dataclass(frozen=True)
class Workload:
    name: str
    path: str
    script: str
    body: str | None = None
    peer: str | None = None  # the peer workload it is compared with
    target: str = ""


CC = "grant_type=client_credentials&scope=read"
DISCOVERY = "/.well-known/openid-configuration"
OSTIARY_SQLITE = [
    Workload("client_credentials/sqlite", "/token", "post", CC, "client_credentials", "1.3x peer"),
    Workload("jwks/sqlite", "/jwks.json", "get", peer="jwks", target="10,000/s"),
    Workload("discovery/sqlite", DISCOVERY, "get", peer="discovery", target="10,000/s"),
]
OSTIARY_PG = [
    Workload(
        "client_credentials/postgresql", "/token", "post", CC, "client_credentials", "1.3x peer"
    ),
    Workload("refresh_rotation/postgresql", "/token", "refresh", target="1,000/s"),
    Workload(
        "introspect_jwt/postgresql",
        "/introspect",
        "post",
        "token={jwt}",
        "introspect_opaque",
        "1.0x peer",
    ),
    Workload(
        "introspect_refresh/postgresql",
        "/introspect",
        "post",
        "token={refresh}",
        "introspect_opaque",
        "1.0x peer",
    ),
]
PEER = [
    Workload("client_credentials", "/token", "post", "grant_type=client_credentials&scope=read"),
    Workload("introspect_opaque", "/token/introspection", "post", "token={opaque}"),
    Workload("jwks", "/jwks", "get"),
    Workload("discovery", "/.well-known/openid-configuration", "get"),
]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass
class Target:
    """A server under test, already running, and what its workloads need."""

    server: str
    base: str
    auth: str
    workloads: list[Workload]
    values: dict[str, Any] = field(default_factory=dict)
    pools: list[Path] = field(default_factory=list)
    process: servers.Process | None = None


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.runs: list[wrk_runner.Result] = []
        self.logins: list[login_load.LoginResult] = []
        self.secret_key = secrets.token_urlsafe(48)
        self.processes: list[servers.Process] = []
        self.targets: list[Target] = []
        self.pg_database: str | None = None
        self.rss_mb: dict[str, float | None] = {}

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def run_one(self, target: Target, w: Workload, connections: int, warmup: bool) -> None:
        env = {"BENCH_AUTH": target.auth, "BENCH_BODY": (w.body or "").format(**target.values)}
        if w.script == "refresh":
            env["BENCH_TOKENS"] = str(target.pools.pop())
        cpu = target.process.cpu_seconds() if target.process else None
        result = wrk_runner.run(
            workload=w.name,
            server=target.server,
            url=target.base + w.path,
            script=w.script,
            connections=connections,
            seconds=self.args.warmup if warmup else self.args.seconds,
            env=env,
        )
        if target.process and cpu is not None and result.requests:
            result.cpu_us = 1e6 * (target.process.cpu_seconds() - cpu) / result.requests
        if warmup:
            if result.errors:
                self.runs.append(result)  # errors count even in warm-up
            return
        self.runs.append(result)
        self.log(
            f"{target.server:8} {w.name:32} c={connections:<4} {result.rps:9.0f}/s "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
            f"CPU {result.cpu_us or 0:6.0f} µs/req"
        )

    def measure_all(self) -> None:
        """Every workload at every level, round after round, peer and Ostiary interleaved,
        so load from other processes on the machine hits both alike."""
        for target in self.targets:
            for w in target.workloads:
                self.run_one(target, w, self.args.connections[0], warmup=True)
        for round_ in range(self.args.rounds):
            self.log(f"round {round_ + 1} of {self.args.rounds}")
            for connections in self.args.connections:
                for target in self.targets:
                    for w in target.workloads:
                        self.run_one(target, w, connections, warmup=False)

    def best(self) -> list[wrk_runner.Result]:
        """Per server, workload and level: the fastest round (noise only slows a run down),
        with the errors of every round added up."""
        groups: dict[tuple[str, str, int], list[wrk_runner.Result]] = {}
        for r in self.runs:
            groups.setdefault((r.server, r.workload, r.connections), []).append(r)
        chosen = []
        for runs in groups.values():
            top = max(runs, key=lambda r: r.rps)
            top.errors = sum(r.errors for r in runs)
            top.first_error = next((r.first_error for r in runs if r.first_error), None)
            chosen.append(top)
        return chosen

    # -- starting the servers ---------------------------------------------------------

    def start_peer(self) -> None:
        port = servers.free_port()
        client_id, secret = "bench-peer", secrets.token_urlsafe(32)
        log = self.workdir / "peer.log"
        process = servers.start_peer(port, client_id, secret, log)
        self.processes.append(process)
        base = f"http://127.0.0.1:{port}"
        opaque = httpx.post(
            base + "/token",
            data={"grant_type": "client_credentials", "resource": "urn:bench:opaque"},
            auth=(client_id, secret),
        ).json()["access_token"]
        self.targets.append(
            Target("peer", base, basic(client_id, secret), PEER, {"opaque": opaque}, [], process)
        )

    async def prepare(
        self, url: str, port: int, refresh_tokens: int, scale: tuple[int, int, int] = (0, 0, 0)
    ) -> Seeded:
        settings = load_settings(
            database_url=url, issuer=f"http://127.0.0.1:{port}", secret_key=self.secret_key
        )
        services = build_services(settings)
        try:
            await upgrade(services.engine)
            if any(scale):
                # The scale targets: the same workloads over a big database.
                users, clients, tokens = scale
                filler = await seed(
                    services, users=users, clients=clients, tokens=tokens, prefix="scale"
                )
                self.log(f"scale rows seeded in {filler.seconds} seconds")
                # What a production database looks like after a bulk load has settled:
                # statistics gathered and the visibility map set, so autovacuum does not
                # run during the measurement.
                started = time.monotonic()
                await _pg_admin("VACUUM ANALYZE", url)
                self.log(f"VACUUM ANALYZE in {time.monotonic() - started:.0f} s")
            return await seed(
                services,
                users=1,
                clients=1,
                tokens=refresh_tokens,
                prefix=f"bench-{secrets.token_hex(3)}",
                keep_tokens=True,
            )
        finally:
            await services.close()

    def start_ostiary(
        self,
        backend: str,
        url: str,
        workloads: list[Workload],
        server: str = "ostiary",
        settings: dict[str, str] | None = None,
    ) -> Target:
        """Seed ``url`` and serve it; ``server`` names the variant that ``settings`` (more
        OSTIARY_* variables) make, when several run side by side."""
        port = servers.free_port()
        per_run = math.ceil(REFRESH_POOL_RATE * max(self.args.seconds, self.args.warmup))
        runs = len(self.args.connections) * self.args.rounds + 1
        wants_refresh = any(w.script == "refresh" for w in workloads)
        scale = self.args.scale if backend == "postgresql" else (0, 0, 0)
        pool = per_run * runs + 1 if wants_refresh else 1
        seeded = asyncio.run(self.prepare(url, port, pool, scale))
        target = Target(
            server,
            f"http://127.0.0.1:{port}",
            basic(seeded.client_ids[0], seeded.client_secret),
            workloads,
            {"refresh": seeded.refresh_tokens[-1]},
        )
        if wants_refresh:
            for i in range(runs):
                pool = self.workdir / f"refresh-{server}-{backend}-{i}.txt"
                pool.write_text("\n".join(seeded.refresh_tokens[i * per_run : (i + 1) * per_run]))
                target.pools.append(pool)
        log = self.workdir / f"{server}-{backend}.log"
        target.process = servers.start_ostiary(
            f"{server}/{backend}", url, port, self.secret_key, log, settings=settings
        )
        self.processes.append(target.process)
        target.values["jwt"] = httpx.post(
            target.base + "/token",
            data={"grant_type": "client_credentials", "scope": "read"},
            auth=(seeded.client_ids[0], seeded.client_secret),
        ).json()["access_token"]
        target.values["login"] = login_of(seeded)
        self.targets.append(target)
        return target

    def start_postgresql(self) -> Target:
        self.pg_database = f"ostiary_bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{self.pg_database}"'))
        return self.start_ostiary("postgresql", PG_URL.format(name=self.pg_database), OSTIARY_PG)

    def run_logins(self, target: Target) -> None:
        login = target.values["login"]
        login_load.run_logins(target.base, 2, self.args.warmup, login)
        probe = max(2.0, self.args.seconds / 2)
        server = next(p for p in self.processes if p.name == "ostiary/postgresql")
        for connections in self.args.login_connections:
            before, _, cpu_before = login_load.argon2_probe(probe)
            cpu = server.cpu_seconds()
            result = login_load.run_logins(target.base, connections, self.args.seconds, login)
            cpu = server.cpu_seconds() - cpu
            after, _, cpu_after = login_load.argon2_probe(probe)
            result.argon2id_rate = (before + after) / 2
            result.argon2id_cpu = (cpu_before + cpu_after) / 2
            done = result.requests - result.errors
            result.server_cpu_per_login = cpu / done if done else None
            self.logins.append(result)
            per_login = f"{1000 * cpu / done:.1f}" if done else "-"
            self.log(
                f"ostiary  password_login/postgresql       c={connections:<4} "
                f"{result.rps:9.1f}/s p50 {result.p50_ms:6.1f} ms  errors {result.errors}  "
                f"bare Argon2id {before:.1f} / {after:.1f}/s; server CPU {per_login} ms/login,"
                f" {1000 * result.argon2id_cpu:.1f} ms/hash"
            )

    def stop(self) -> None:
        for process in self.processes:
            self.rss_mb[process.name] = process.rss_mb()
            process.stop()
        if self.pg_database:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)'))


def login_of(seeded: Seeded) -> dict[str, str]:
    """What ``login_load.one_login`` needs to sign the seeded user in with the seeded client."""
    return {
        "client_id": seeded.client_ids[0],
        "secret": seeded.client_secret,
        "redirect_uri": REDIRECT_URI,
        "user": seeded.usernames[0],
        "pw": seeded.password,
    }


@contextlib.contextmanager
def scratch_database(backend: str, tmp: Path, prefix: str) -> Iterator[str]:
    """The URL of a fresh database: a PostgreSQL database created now and dropped at the
    end, or a SQLite file in ``tmp``."""
    if backend != "postgresql":
        yield f"sqlite+aiosqlite:///{tmp}/{prefix}.db"
        return
    name = f"ostiary_{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.format(name=name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(sql: str, url: str | None = None) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://") if url else PG_ADMIN
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def report(bench: Bench, argon2: tuple[float, str], peer_version: str) -> dict[str, Any]:
    results = bench.best()
    peer = {(r.workload, r.connections): r for r in results if r.server == "peer"}
    rows = []
    for r in sorted(results, key=lambda r: (r.workload, r.connections)):
        if r.server != "ostiary":
            continue
        w = next(w for w in OSTIARY_SQLITE + OSTIARY_PG if w.name == r.workload)
        other = peer.get((w.peer, r.connections)) if w.peer else None
        rows.append(
            {
                **r.as_dict(),
                "peer_workload": w.peer,
                "peer_rps": other.rps if other else None,
                "ratio": r.rps / other.rps if other and other.rps else None,
                # The same comparison in server CPU per request (peer / Ostiary).
                "cpu_ratio": (
                    other.cpu_us / r.cpu_us if other and other.cpu_us and r.cpu_us else None
                ),
                "target": w.target,
            }
        )
    argon2_rate, params = argon2
    logins = [
        {
            **vars(x),
            "argon2id_rate": x.argon2id_rate or argon2_rate,
            "ratio": x.rps / (x.argon2id_rate or argon2_rate),
            # CPU view, insensitive to other load: one bare hash / the server's CPU per login.
            "cpu_ratio": (
                x.argon2id_cpu / x.server_cpu_per_login
                if x.argon2id_cpu and x.server_cpu_per_login
                else None
            ),
        }
        for x in bench.logins
    ]
    print(f"\n{'workload':34} {'c':>4} {'ostiary/s':>10} {'p50 ms':>7} {'p99 ms':>8} "
          f"{'errors':>6} {'peer/s':>9} {'ratio':>6} {'CPU µs':>7} {'cpu x':>6}"
          "  target")  # fmt: skip
    for row in rows:
        peer_rps = f"{row['peer_rps']:9.0f}" if row["peer_rps"] else f"{'-':>9}"
        ratio = f"{row['ratio']:5.2f}x" if row["ratio"] else f"{'-':>6}"
        cpu = f"{row['cpu_us']:7.0f}" if row["cpu_us"] else f"{'-':>7}"
        cpu_ratio = f"{row['cpu_ratio']:5.2f}x" if row["cpu_ratio"] else f"{'-':>6}"
        print(
            f"{row['workload']:34} {row['connections']:>4} {row['rps']:10.0f} "
            f"{row['p50_ms']:7.1f} {row['p99_ms']:8.1f} {row['errors']:>6} {peer_rps} {ratio}"
            f" {cpu} {cpu_ratio}  >= {row['target']}"
        )
    for x in logins:
        print(
            f"{'password_login/postgresql':34} {x['connections']:>4} {x['rps']:10.1f} "
            f"{x['p50_ms']:7.1f} {x['p99_ms']:8.1f} {x['errors']:>6} "
            f"{x['argon2id_rate']:9.1f} {x['ratio']:5.2f}x  0.85x bare Argon2id ({params})"
        )
    print(
        "(peer/s for password_login is the bare Argon2id verify rate on the server core,"
        " measured just before and after the login run)"
    )
    for x in logins:
        if x["cpu_ratio"]:
            print(
                f"password_login c={x['connections']}: server CPU per login "
                f"{1000 * x['server_cpu_per_login']:.1f} ms, bare Argon2id verify "
                f"{1000 * x['argon2id_cpu']:.1f} ms CPU: {x['cpu_ratio']:.2f}x"
            )
    return {
        "machine": machine(),
        "peer": f"node-oidc-provider {peer_version}",
        "seconds_per_run": bench.args.seconds,
        "rounds": bench.args.rounds,
        "scale_rows": dict(
            zip(["users", "clients", "refresh_tokens"], bench.args.scale, strict=True)
        ),
        "rss_mb_at_end": bench.rss_mb,
        "ostiary": rows,
        "peer_results": [r.as_dict() for r in results if r.server == "peer"],
        "password_login": logins,
        "argon2id": {"rate": argon2_rate, "parameters": params},
    }


def machine() -> dict[str, str]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((x.split(":", 1)[1].strip() for x in lscpu.splitlines() if "Model name" in x), "")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {"cpu": model, "python": platform.python_version(), "node": node.stdout.strip()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per workload")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--connections", help="comma-separated wrk connection counts")
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    parser.add_argument("--rounds", type=int, help="rounds; the best of them is reported")
    parser.add_argument(
        "--scale",
        type=lambda v: tuple(int(x) for x in v.split(",")),
        default=(0, 0, 0),
        help="USERS,CLIENTS,REFRESH_TOKENS seeded into PostgreSQL first (scale targets)",
    )
    parser.add_argument(
        "--only", choices=["peer", "sqlite", "postgresql"], action="append", help="subset"
    )
    parser.add_argument(
        "--workload",
        action="append",
        help="run only the workloads whose name contains this (repeatable; e.g. refresh, "
        "introspect, password_login); the peer runs what they are compared with",
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (2 if args.quick else 6)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.warmup = 1 if args.quick else 2
    levels = args.connections or ("16" if args.quick else "16,64")
    args.connections = [int(c) for c in levels.split(",")]
    args.login_connections = [4] if args.quick else [2, 8]
    return args


def selected(workloads: list[Workload], patterns: list[str] | None) -> list[Workload]:
    if not patterns:
        return workloads
    return [w for w in workloads if any(p in w.name for p in patterns)]


def focus(args: argparse.Namespace) -> None:
    """Narrow the workload lists to ``--workload`` (a focused before/after measurement)."""
    global OSTIARY_SQLITE, OSTIARY_PG, PEER
    if not args.workload:
        return
    OSTIARY_SQLITE = selected(OSTIARY_SQLITE, args.workload)
    OSTIARY_PG = selected(OSTIARY_PG, args.workload)
    wanted = {w.peer for w in OSTIARY_SQLITE + OSTIARY_PG}
    PEER = [w for w in PEER if w.name in wanted]
    if not any("password_login" in p for p in args.workload):
        args.login_connections = []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    focus(args)
    only = set(args.only or ["peer", "sqlite", "postgresql"])
    wrk_runner.ensure_wrk()
    peer_version = servers.ensure_peer()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ostiary-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            # All servers start pinned to the server core and wait; one is loaded at a time.
            if "peer" in only and PEER:
                bench.start_peer()
            if "sqlite" in only and OSTIARY_SQLITE:
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                bench.start_ostiary("sqlite", url, OSTIARY_SQLITE)
            wants_pg = "postgresql" in only and (OSTIARY_PG or args.login_connections)
            pg = bench.start_postgresql() if wants_pg else None
            bench.measure_all()
            if pg is not None:
                bench.run_logins(pg)
        finally:
            bench.stop()
        argon2 = login_load.argon2_rate(max(2.0, args.seconds / 2))
        document = report(bench, argon2, peer_version)
    document["total_seconds"] = round(time.monotonic() - started)
    text = json.dumps(document, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    failed = [r for r in bench.runs if r.errors] + [x for x in bench.logins if x.errors]
    for bad in failed:
        print(f"ERROR: {bad}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
