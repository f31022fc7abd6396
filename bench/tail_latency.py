"""Ostiary's latency tail beside node-oidc-provider's, and the stalls behind it.

    .venv/bin/python bench/tail_latency.py            # 2 rounds x 5 s per run, about 9 minutes
    .venv/bin/python bench/tail_latency.py --quick    # 1 round x 3 s, about 3 minutes

Starts the peer and two variants of Ostiary, each on SQLite and on PostgreSQL, all pinned
to core 0 (wrk on core 1): ``ostiary`` as configured by default, and ``ostiary-nofreeze``
with the garbage collector left as Python sets it (``OSTIARY_GC__FREEZE=false``). Every
workload runs at 32 and 128 connections (refresh rotation at 16), servers interleaved,
round after round. For each run it prints the latency spectrum wrk recorded (p50, p90, p99,
p99.9, p99.99, max) and, for Ostiary, what its own /metrics counted during the run: the
event loop's lag (``ostiary_event_loop_lag_seconds``) and the garbage collector's pauses by
generation (``ostiary_gc_pause_seconds``). Then one JSON document; exits 1 on any error.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
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


class TailBench(Bench):
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        super().__init__(args, workdir)
        self.stalls: list[tuple[wrk_runner.Result, Stalls]] = []

    def measure(self, target: Target, w: Workload, connections: int) -> None:
        ostiary = target.server != "peer"
        before = scrape(target.base) if ostiary else {}
        self.run_one(target, w, connections, warmup=False)
        result = self.runs[-1]
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
                            self.measure(target, peer, connections)
                        elif w in target.workloads:
                            self.measure(target, w, connections)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, help="rounds (each run is reported)")
    parser.add_argument("--connections", help="comma-separated wrk connection counts")
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3 if args.quick else 5)
    args.rounds = args.rounds or (1 if args.quick else 2)
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
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ostiary-tail-") as tmp, contextlib.ExitStack() as dbs:
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
