"""Ostiary's latency tail beside node-oidc-provider's, and the stalls behind it.

    .venv/bin/python bench/tail_latency.py            # 3 rounds x 5 s per run, about 12 minutes
    .venv/bin/python bench/tail_latency.py --quick    # 1 round x 3 s, about 3 minutes
        [--hdr-dir DIR] [--json-out FILE] [--share-database-core]

Starts the peer and two variants of Ostiary, each on SQLite and on PostgreSQL, all pinned
to core 0 (wrk on core 1): ``ostiary`` as configured by default, and ``ostiary-nofreeze``
with the garbage collector left as Python sets it (``OSTIARY_GC__FREEZE=false``). Every
workload runs at 32 and 128 connections (refresh rotation at 16), servers interleaved,
round after round. For each run it prints the latency spectrum wrk recorded (p50, p90, p99,
p99.9, p99.99, max) and, for Ostiary, what its own /metrics counted during the run: the
event loop's lag (``ostiary_event_loop_lag_seconds``) and the garbage collector's pauses by
generation (``ostiary_gc_pause_seconds``). At the end, per workload and level, the median
of the rounds for each server beside the targets (p99 at or under the peer's, p99.9 at
most twice the peer's, client_credentials at twice the peer's throughput, refresh rotation
p99 at most 20 ms), then one JSON document; exits 1 on any error.

PostgreSQL's processes are held to the load generator's core for the run (their affinity
is put back after): a database sharing the measured server's core measures the two
together, and a deployment gives its database its own cores. ``--share-database-core``
leaves them where they are. ``--hdr-dir`` writes each run's latency spectrum as an
HdrHistogram percentile distribution (``.hgrm``, readable by HdrHistogram's plotter).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import peer_compare
import servers
import wrk_runner
from peer_compare import CC, Bench, Target, Workload, scratch_database

SQLITE = [
    Workload("client_credentials/sqlite", "/token", "post", CC, "client_credentials"),
    Workload("jwks/sqlite", "/jwks.json", "get", peer="jwks"),
]
POSTGRESQL = [
    Workload("client_credentials/postgresql", "/token", "post", CC, "client_credentials"),
    Workload(
        "introspect_jwt/postgresql", "/introspect", "post", "token={jwt}", "introspect_opaque"
    ),
    Workload("refresh_rotation/postgresql", "/token", "refresh"),
]
PEER = [w for w in peer_compare.PEER if w.name != "discovery"]
VARIANTS = {"ostiary": {}, "ostiary-nofreeze": {"OSTIARY_GC__FREEZE": "false"}}
# Refresh rotation's own target is stated at 16 connections.
LEVELS = {"refresh_rotation/postgresql": [16]}
_SAMPLE = re.compile(r"^(ostiary_(?:event_loop_lag|gc_pause)_seconds_bucket)\{(.*)\} (\S+)$")


@dataclass
class Stalls:
    """What a server's /metrics counted during one run: per histogram (``lag``, ``gc0``,
    ``gc1``, ``gc2``) the number of observations at or under each bound."""

    buckets: dict[str, dict[float, float]]

    def count(self, name: str) -> int:
        series = self.buckets.get(name, {})
        return int(series.get(float("inf"), 0))

    def over(self, name: str, bound: float) -> int:
        """Observations above ``bound`` seconds (a bucket bound)."""
        series = self.buckets.get(name, {})
        return int(series.get(float("inf"), 0) - series.get(bound, 0))

    def worst(self, name: str) -> float | None:
        """The smallest bucket bound that holds every observation (None: none)."""
        series = self.buckets.get(name, {})
        total = series.get(float("inf"), 0)
        if not total:
            return None
        return min(bound for bound, n in series.items() if n >= total)

    def as_dict(self) -> dict[str, Any]:
        names = ("lag", "gc0", "gc1", "gc2")
        return {
            name: {
                "count": self.count(name),
                "over_5ms": self.over(name, 0.005),
                "over_25ms": self.over(name, 0.025),
                "worst_bucket_s": self.worst(name),
            }
            for name in names
        }


def scrape(base: str) -> dict[str, dict[float, float]]:
    series: dict[str, dict[float, float]] = defaultdict(dict)
    text = httpx.get(base + "/metrics", timeout=10).text
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        metric, labels, value = match.groups()
        fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        name = "lag" if "loop_lag" in metric else f"gc{fields['generation']}"
        series[name][float(fields["le"])] = float(value)
    return series


def difference(
    after: dict[str, dict[float, float]], before: dict[str, dict[float, float]]
) -> Stalls:
    return Stalls(
        {
            name: {le: n - before.get(name, {}).get(le, 0) for le, n in bounds.items()}
            for name, bounds in after.items()
        }
    )


@contextlib.contextmanager
def database_on_core(core: int) -> Iterator[int]:
    """Hold every PostgreSQL process (the postmaster too, so backends it starts meanwhile
    inherit it) to ``core``; yields how many were moved, and puts each back after."""
    saved: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == "postgres":
                pid = int(entry.name)
                saved[pid] = os.sched_getaffinity(pid)
                os.sched_setaffinity(pid, {core})
    try:
        yield len(saved)
    finally:
        for pid, cores in saved.items():
            with contextlib.suppress(OSError):  # a backend that ended meanwhile
                os.sched_setaffinity(pid, cores)


def write_hgrm(path: Path, result: wrk_runner.Result) -> None:
    """``result``'s spectrum as HdrHistogram prints a percentile distribution (ms)."""
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    for percentile, ms in result.spectrum or []:
        fraction = percentile / 100
        inverse = f"{1 / (1 - fraction):14.2f}" if fraction < 1 else f"{'inf':>14}"
        count = round(fraction * result.requests)
        lines.append(f"{ms:12.3f} {fraction:14.12f} {count:10d} {inverse}")
    lines.append(
        f"#[Mean    = {result.mean_ms or 0:12.3f}, StdDeviation   = {result.stdev_ms or 0:12.3f}]"
    )
    lines.append(f"#[Max     = {result.max_ms or 0:12.3f}, Total count    = {result.requests:12d}]")
    path.write_text("\n".join(lines) + "\n")


class TailBench(Bench):
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        super().__init__(args, workdir)
        self.stalls: list[tuple[wrk_runner.Result, Stalls]] = []
        # (Ostiary workload compared, connections, server) -> each round's result.
        self.cells: dict[tuple[str, int, str], list[wrk_runner.Result]] = defaultdict(list)

    def measure(
        self, target: Target, w: Workload, connections: int, compared: str, round_: int
    ) -> None:
        ostiary = target.server != "peer"
        before = scrape(target.base) if ostiary else {}
        self.run_one(target, w, connections, warmup=False)
        result = self.runs[-1]
        self.cells[compared, connections, target.server].append(result)
        if self.args.hdr_dir:
            name = f"{compared.replace('/', '-')}-c{connections}-{target.server}-r{round_ + 1}"
            write_hgrm(self.args.hdr_dir / f"{name}.hgrm", result)
        self.log(
            f"{'':8} {'':32} tail: p90 {result.p90_ms:.1f}  p99.9 {result.p999_ms:.1f}  "
            f"p99.99 {result.p9999_ms:.1f}  max {result.max_ms:.1f} ms"
        )
        if ostiary:
            stalls = difference(scrape(target.base), before)
            self.stalls.append((result, stalls))
            figures = stalls.as_dict()
            self.log(
                f"{'':8} {'':32} stalls: loop lag >5 ms {figures['lag']['over_5ms']}, "
                f">25 ms {figures['lag']['over_25ms']}; GC pauses by generation "
                + ", ".join(
                    f"{g}: {figures[g]['count']} (worst <= {figures[g]['worst_bucket_s']} s)"
                    for g in ("gc0", "gc1", "gc2")
                )
            )

    def measure_tail(self) -> None:
        """Each workload at each level, every server that serves it in turn, round after
        round (the peer runs what the Ostiary workload is compared with)."""
        by_name = {w.name: w for w in PEER}
        for target in self.targets:
            for w in target.workloads:
                self.run_one(target, w, self.args.connections[0], warmup=True)
        for round_ in range(self.args.rounds):
            self.log(f"round {round_ + 1} of {self.args.rounds}")
            for w in SQLITE + POSTGRESQL:
                for connections in LEVELS.get(w.name, self.args.connections):
                    peer = by_name.get(w.peer or "")
                    for target in self.targets:
                        if target.server == "peer" and peer is not None:
                            self.measure(target, peer, connections, w.name, round_)
                        elif w in target.workloads:
                            self.measure(target, w, connections, w.name, round_)

    def verdicts(self) -> list[dict[str, Any]]:
        """Per workload and level, the median of the rounds for each server, and whether
        Ostiary (as shipped) meets each target the peer sets."""
        rows = []
        for (name, connections, server), results in sorted(self.cells.items()):
            if server == "peer":
                continue
            row: dict[str, Any] = {"workload": name, "connections": connections, "server": server}
            row.update(_medians(results))
            peer = self.cells.get((name, connections, "peer"))
            if peer:
                theirs = _medians(peer)
                row["peer"] = theirs
                row["p99_at_or_under_peer"] = row["p99_ms"] <= theirs["p99_ms"]
                row["p999_within_2x_peer"] = row["p999_ms"] <= 2 * theirs["p999_ms"]
                row["rps_ratio"] = round(row["rps"] / theirs["rps"], 2)
                if name.startswith("client_credentials"):
                    row["rps_at_least_2x_peer"] = row["rps_ratio"] >= 2
            if name.startswith("refresh_rotation") and connections == 16:
                row["p99_at_most_20ms"] = row["p99_ms"] <= 20
            rows.append(row)
        return rows


def _medians(results: list[wrk_runner.Result]) -> dict[str, float]:
    return {
        "rps": round(statistics.median(r.rps for r in results)),
        "p50_ms": round(statistics.median(r.p50_ms for r in results), 1),
        "p99_ms": round(statistics.median(r.p99_ms for r in results), 1),
        "p999_ms": round(statistics.median(r.p999_ms or 0 for r in results), 1),
        "max_ms": round(statistics.median(r.max_ms or 0 for r in results), 1),
    }


def print_verdicts(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'workload':30} {'c':>4} {'server':17} {'req/s':>7} {'x peer':>6} "
        f"{'p99':>7} {'peer':>7} {'p99.9':>7} {'peer':>7}  targets"
    )
    for row in rows:
        peer = row.get("peer", {})
        marks = [
            f"{label}: {'yes' if row[key] else 'NO'}"
            for key, label in (
                ("p99_at_or_under_peer", "p99<=peer"),
                ("p999_within_2x_peer", "p99.9<=2x"),
                ("rps_at_least_2x_peer", "2x req/s"),
                ("p99_at_most_20ms", "p99<=20ms"),
            )
            if key in row
        ]
        print(
            f"{row['workload']:30} {row['connections']:>4} {row['server']:17} {row['rps']:>7} "
            f"{row.get('rps_ratio', ''):>6} {row['p99_ms']:>7} {peer.get('p99_ms', ''):>7} "
            f"{row['p999_ms']:>7} {peer.get('p999_ms', ''):>7}  {', '.join(marks)}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, help="rounds (each run is reported)")
    parser.add_argument("--connections", help="comma-separated wrk connection counts")
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    parser.add_argument("--hdr-dir", type=Path, help="write each run's spectrum here (.hgrm)")
    parser.add_argument(
        "--share-database-core",
        action="store_true",
        help="leave PostgreSQL's processes on every core (by default held to wrk's core)",
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3 if args.quick else 5)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = 1 if args.quick else 2
    args.connections = [int(c) for c in (args.connections or "32,128").split(",")]
    # Bench.start_ostiary sizes the refresh-token pools from these.
    args.scale = (0, 0, 0)
    args.login_connections = []
    return args


def summary(bench: TailBench) -> dict[str, Any]:
    stalls = {id(result): s for result, s in bench.stalls}
    return {
        "machine": peer_compare.machine(),
        "seconds_per_run": bench.args.seconds,
        "rounds": bench.args.rounds,
        "database_core": None if bench.args.share_database_core else wrk_runner.LOAD_CORE,
        "verdicts": bench.verdicts(),
        "runs": [
            {
                **r.as_dict(),
                **({"stalls": stalls[id(r)].as_dict()} if id(r) in stalls else {}),
            }
            for r in bench.runs
        ],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk_runner.ensure_wrk()
    servers.ensure_peer()
    if args.hdr_dir:
        args.hdr_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ostiary-tail-") as tmp, contextlib.ExitStack() as dbs:
        if not args.share_database_core:
            moved = dbs.enter_context(database_on_core(int(wrk_runner.LOAD_CORE)))
            print(f"PostgreSQL: {moved} processes held to core {wrk_runner.LOAD_CORE}")
        bench = TailBench(args, Path(tmp))
        try:
            bench.start_peer()
            for server, settings in VARIANTS.items():
                for backend, workloads in (("sqlite", SQLITE), ("postgresql", POSTGRESQL)):
                    url = dbs.enter_context(scratch_database(backend, Path(tmp), server))
                    bench.start_ostiary(backend, url, workloads, server, settings)
            bench.measure_tail()
        finally:
            bench.stop()
    print_verdicts(bench.verdicts())
    document = summary(bench)
    document["total_seconds"] = round(time.monotonic() - started)
    text = json.dumps(document, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    failed = [r for r in bench.runs if r.errors]
    for bad in failed:
        print(f"ERROR: {bad}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
