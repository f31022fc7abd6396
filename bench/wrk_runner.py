"""Run wrk pinned to the load-generator core and read its result line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

WRK_DIR = Path(__file__).parent / "wrk"
LOAD_CORE = "1"


@dataclass
class Result:
    workload: str
    server: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    error_detail: dict[str, int]
    first_error: str | None = None
    # CPU time of the server process per completed request (PostgreSQL's own not included):
    # unlike requests/s, it holds when other load shares the machine.
    cpu_us: float | None = None
    # The tail, from wrk's latency histogram (microsecond resolution).
    p90_ms: float | None = None
    p999_ms: float | None = None
    p9999_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    stdev_ms: float | None = None
    # (percentile, latency in ms) from the median up, as HdrHistogram prints them.
    spectrum: list[tuple[float, float]] | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def ensure_wrk() -> str:
    """wrk from Debian, installed on first use."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def _script(name: str) -> Path:
    """The workload script with the shared report function appended."""
    text = (WRK_DIR / f"{name}.lua").read_text() + "\n" + (WRK_DIR / "report.lua").read_text()
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    with handle:
        handle.write(text)
    return Path(handle.name)


def run(
    *,
    workload: str,
    server: str,
    url: str,
    script: str,
    connections: int,
    seconds: float,
    env: dict[str, str] | None = None,
) -> Result:
    """One wrk run (one thread, ``connections`` keep-alive connections, fixed duration)."""
    lua = _script(script)
    try:
        proc = subprocess.run(
            [
                "taskset",
                "-c",
                LOAD_CORE,
                ensure_wrk(),
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(lua),
                url,
            ],
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        lua.unlink()
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    detail = {k: int(data[k]) for k in ("connect", "read", "write", "non2xx", "timeout")}
    # A run in which no request completed measured nothing: that is a failure too.
    detail["none_completed"] = int(data["requests"] == 0)
    return Result(
        workload=workload,
        server=server,
        connections=connections,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        p9999_ms=data["p9999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        stdev_ms=data["stdev_us"] / 1000,
        spectrum=[(float(p), us / 1000) for p, us in data["spectrum_us"]],
        requests=int(data["requests"]),
        errors=sum(detail.values()),
        error_detail=detail,
        first_error=next(
            (x for x in proc.stderr.splitlines() if x.startswith("first non-2xx")), None
        ),
    )
