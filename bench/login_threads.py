"""Where a password login's server CPU goes, thread by thread.

    .venv/bin/python bench/login_threads.py [--seconds 10] [--connections 2,8]
        [--backend postgresql|sqlite] [--rounds N] [--against /path/to/other/checkout]
        [--probe /jwks.json]

Seeds a fresh database, starts ``ostiary serve`` pinned to the server core, drives logins
from the load core (``login_load.run_logins``) and reads each server thread's CPU time
(``/proc/<pid>/task/<tid>/stat``: user + system) and context switches
(``/proc/<pid>/task/<tid>/status``) before and after. Prints, per login: the event loop's
CPU, the password-hash threads' CPU, every other thread's, and the bare Argon2id
verification measured on the server core right after, so the overhead of everything that
is not the hash is read directly rather than inferred from throughput. ``--against``
runs another checkout's server in turn with this one's (round by round, same database).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import login_load
import peer_compare
import servers

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class ThreadSample:
    name: str
    cpu: float
    switches: int
    faults: int = 0


def sample(pid: int) -> dict[int, ThreadSample]:
    threads: dict[int, ThreadSample] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            head, _, tail = (task / "stat").read_text().rpartition(")")
            status = (task / "status").read_text().splitlines()
        except OSError:
            continue
        fields = tail.split()
        switches = sum(int(x.split()[1]) for x in status if "ctxt_switches:" in x)
        threads[int(task.name)] = ThreadSample(
            name=head.partition("(")[2],
            cpu=(int(fields[11]) + int(fields[12])) / TICK,
            switches=switches,
            faults=int(fields[7]),  # minor page faults
        )
    return threads


def start(tree: Path | None, url: str, port: int, key: str, log: Path) -> servers.Process:
    """``ostiary serve`` from this checkout, or from ``tree`` (its ``src`` first on the path)."""
    previous = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = str(tree.resolve() / "src")
    try:
        return servers.start_ostiary("ostiary", url, port, key, log)
    finally:
        if tree is not None:
            if previous is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = previous


def measure(
    server: servers.Process,
    base: str,
    login: dict[str, str],
    args: argparse.Namespace,
    label: str,
) -> None:
    login_load.run_logins(base, 2, 3, login)  # warm-up
    for connections in (int(c) for c in args.connections.split(",")):
        before = sample(server.proc.pid)
        result = login_load.run_logins(base, connections, args.seconds, login, args.probe)
        after = sample(server.proc.pid)
        _, _, hash_cpu = login_load.argon2_probe(max(2.0, args.seconds / 3))
        done = result.requests - result.errors
        rows: dict[str, tuple[float, int, int]] = {}
        for tid, end in after.items():
            start = before.get(tid, ThreadSample(end.name, 0.0, 0))
            cpu, switches = end.cpu - start.cpu, end.switches - start.switches
            if cpu <= 0 and switches <= 0:
                continue
            kind = "event loop" if tid == server.proc.pid else end.name
            old = rows.get(kind, (0.0, 0, 0))
            rows[kind] = (old[0] + cpu, old[1] + switches, old[2] + end.faults - start.faults)
        total = sum(cpu for cpu, _, _ in rows.values())
        print(
            f"{label} c={connections}: {result.rps:.1f} logins/s, errors {result.errors}; "
            f"server CPU {1000 * total / done:.2f} ms/login; "
            f"bare Argon2id {1000 * hash_cpu:.2f} ms: {hash_cpu * done / total:.2f}x",
            flush=True,
        )
        if args.probe:
            print(
                f"  GET {args.probe} meanwhile: p50 {result.probe_p50_ms:.2f} ms,"
                f" p99 {result.probe_p99_ms:.2f} ms"
            )
        for kind, (cpu, switches, faults) in sorted(rows.items(), key=lambda r: -r[1][0]):
            print(
                f"  {kind:24} {1000 * cpu / done:7.2f} ms/login"
                f" {switches / done:7.1f} switches/login {faults / done:8.1f} page faults/login"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", default="2,8")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout: its server runs in turn with this one's, round by round",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--probe",
        metavar="PATH",
        help="also GET this path every 5 ms during the logins and print its p50/p99",
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="ostiary-threads-") as tmp,
        peer_compare.scratch_database(args.backend, Path(tmp), "threads") as url,
    ):
        bench = peer_compare.Bench(peer_compare.parse_args(["--quick"]), Path(tmp))
        port = servers.free_port()
        login = peer_compare.login_of(asyncio.run(bench.prepare(url, port, 1)))
        trees: list[Path | None] = [None] if args.against is None else [None, args.against]
        for round_ in range(args.rounds):
            for tree in trees:
                label = f"round {round_ + 1}, {tree or 'this tree'}"
                server = start(tree, url, port, bench.secret_key, Path(tmp) / "server.log")
                try:
                    measure(server, f"http://127.0.0.1:{port}", login, args, label)
                finally:
                    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
