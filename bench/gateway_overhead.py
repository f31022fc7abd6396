"""What `ostiary gateway` costs: the same upstream measured directly and through the gateway.

    .venv/bin/python bench/gateway_overhead.py [--seconds 5] [--rounds 3] [--connections 16]
    .venv/bin/python bench/gateway_overhead.py --profile /tmp/gateway.raw   # py-spy stacks

Four processes: `ostiary serve` (issues the token, serves the JWKS and the revocation feed),
a minimal upstream ASGI app under uvicorn, `ostiary gateway` in API mode in front of it (all
three pinned to core 0 by bench/servers.py), and wrk as the load on core 1. Each round runs,
interleaved, a public path and a Bearer-protected path (`scope=bench`, RFC 6750 §2.1) both
direct and through the gateway; it prints requests/s and p50/p99 per target (median over
the rounds) and the gateway/direct ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from servers import OSTIARY, Process, free_port, start_ostiary
from wrk_runner import LOAD_CORE, WRK_DIR, ensure_wrk

SECRET_KEY = "bench-secret-key-" + "g" * 32
AUDIENCE = "https://bench-api.example"
BODY = b'{"ok":true}'


async def upstream_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    """The cheapest useful upstream: a small JSON answer to any request."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": BODY})  # type: ignore[operator]


def serve_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(upstream_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Figure:
    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> Figure:
    """One wrk run on the load core; bench/wrk/report.lua prints the result line."""
    script = (WRK_DIR / "get.lua").read_text() + "\n" + (WRK_DIR / "report.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    argv = ["taskset", "-c", LOAD_CORE, ensure_wrk(), "-t1", f"-c{connections}"]
    argv += [f"-d{seconds}s", "--timeout", "10s", "-s", handle.name]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    try:
        done = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
    finally:
        os.unlink(handle.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "non2xx", "timeout"))
    if errors:
        print(f"  {url}: {errors} errors; {done.stderr.strip()[:300]}", file=sys.stderr)
    return Figure(
        url,
        data["requests"] / (data["duration_us"] / 1e6),
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        errors,
    )


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(OSTIARY), *args], env=env, check=True, capture_output=True)
    return done.stdout.decode()


def bench_token(env: dict[str, str], issuer: str) -> str:
    cli(env, "scope", "create", "bench")
    create = [
        "client", "create", "--name", "bench-gateway",
        "--grant-type", "client_credentials", "--scope", "bench",
        "--audience", AUDIENCE, "--access-token-ttl", "3600", "--json",
    ]  # fmt: skip
    made = json.loads(cli(env, *create))
    response = httpx.post(
        issuer + "/token",
        data={"grant_type": "client_credentials", "scope": "bench"},
        auth=(made["client_id"], made["client_secret"]),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def start_gateway(issuer: str, upstream: str, port: int, log: Path) -> Process:
    argv = [
        str(OSTIARY), "gateway", "--port", str(port), "--issuer", issuer,
        "--upstream", upstream, "--audience", AUDIENCE, "--mode", "api",
        "--rule", "GET /public public", "--rule", "GET /api/* scope=bench",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    process = Process("gateway", argv, env, log)
    process.wait_ready(f"http://127.0.0.1:{port}/public")
    return process


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy's raw (collapsed) stacks of the gateway while it is under load."""
    local = Path(sys.executable).parent / "py-spy"
    spy = str(local) if local.exists() else "py-spy"
    argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds)]
    argv += ["--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile", type=Path, help="write py-spy raw stacks of the gateway")
    parser.add_argument("--profile-target", default="bearer gateway", help="which run to profile")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    ostiary_port, upstream_port, gateway_port = free_port(), free_port(), free_port()
    issuer = f"http://127.0.0.1:{ostiary_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(OSTIARY_DATABASE_URL=database_url, OSTIARY_ISSUER=issuer)
    env.update(OSTIARY_SECRET_KEY=SECRET_KEY)
    processes: list[Process] = []
    try:
        cli(env, "db", "upgrade")
        processes.append(
            start_ostiary("ostiary", database_url, ostiary_port, SECRET_KEY, workdir / "op.log")
        )
        token = bench_token(env, issuer)
        upstream = f"http://127.0.0.1:{upstream_port}"
        argv = [sys.executable, __file__, "--serve-upstream", str(upstream_port)]
        processes.append(Process("upstream", argv, dict(os.environ), workdir / "upstream.log"))
        processes[-1].wait_ready(f"{upstream}/public")
        gateway = f"http://127.0.0.1:{gateway_port}"
        processes.append(start_gateway(issuer, upstream, gateway_port, workdir / "gw.log"))
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{gateway}/api/orders", headers=auth).status_code == 200
        assert httpx.get(f"{gateway}/api/orders").status_code == 401
        targets = {
            "public direct": (f"{upstream}/public", {}),
            "public gateway": (f"{gateway}/public", {}),
            "bearer direct": (f"{upstream}/api/orders", auth),
            "bearer gateway": (f"{gateway}/api/orders", auth),
        }
        for url, headers in targets.values():  # warm-up: JWKS fetched, pools open
            wrk(url, 1, args.connections, headers)
        runs: dict[str, list[Figure]] = {name: [] for name in targets}
        for round_ in range(args.rounds):
            for name, (url, headers) in targets.items():
                spy = None
                if args.profile and round_ == 0 and name == args.profile_target:
                    spy = profile(processes[-1].proc.pid, args.seconds, args.profile)
                runs[name].append(wrk(url, args.seconds, args.connections, headers))
                if spy is not None:
                    spy.wait(timeout=60)
        report(runs, args)
    finally:
        for process in reversed(processes):
            process.stop()


def report(runs: dict[str, list[Figure]], args: argparse.Namespace) -> None:
    print(
        f"{args.rounds} rounds x {args.seconds}s, wrk -t1 -c{args.connections}, "
        "servers on core 0, wrk on core 1; medians over the rounds"
    )
    print(f"{'target':16s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s}")
    median: dict[str, Figure] = {}
    for name, figures in runs.items():
        median[name] = Figure(
            name,
            statistics.median(f.rps for f in figures),
            statistics.median(f.p50_ms for f in figures),
            statistics.median(f.p99_ms for f in figures),
            sum(f.errors for f in figures),
        )
        m = median[name]
        print(f"{name:16s} {m.rps:9.0f} {m.p50_ms:8.2f} {m.p99_ms:8.2f} {m.errors:7d}")
    for kind in ("public", "bearer"):
        direct, through = median[f"{kind} direct"], median[f"{kind} gateway"]
        print(
            f"{kind}: gateway/direct throughput {through.rps / direct.rps:.2f}, "
            f"p50 +{through.p50_ms - direct.p50_ms:.2f} ms"
        )


if __name__ == "__main__":
    main()
