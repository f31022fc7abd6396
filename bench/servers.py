"""Start the servers under test pinned to one core, and stop them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PEER_DIR = ROOT / "bench" / ".peer"
PEER_SCRIPT = ROOT / "bench" / "peer" / "server.mjs"
PEER_PACKAGE = "oidc-provider@9"
SERVER_CORE = "0"
OSTIARY = Path(sys.executable).parent / "ostiary"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_peer() -> str:
    """node-oidc-provider 9 from npm into bench/.peer/ (ignored by git); its version."""
    package = PEER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not package.exists():
        PEER_DIR.mkdir(parents=True, exist_ok=True)
        manifest = PEER_DIR / "package.json"
        if not manifest.exists():
            manifest.write_text('{"name": "ostiary-bench-peer", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", PEER_PACKAGE],
            cwd=PEER_DIR,
            check=True,
        )
    return json.loads(package.read_text())["version"]


class Process:
    """One server process pinned to the server core; output goes to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
                try:
                    if http.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} in {timeout}s")

    def rss_mb(self) -> float | None:
        """Resident memory of the server (uvicorn's worker when it forked one)."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        kb = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS")), 0)
        return round(kb / 1024, 1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server and the processes it started so far."""
        pids = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._out.close()


def start_ostiary(
    name: str,
    database_url: str,
    port: int,
    secret_key: str,
    log: Path,
    workers: int = 1,
    settings: dict[str, str] | None = None,
) -> Process:
    """``settings``: more OSTIARY_* variables (a variant of the server under test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(
        OSTIARY_DATABASE_URL=database_url,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=secret_key,
        # Every benchmark client is 127.0.0.1: the per-address limits would measure
        # themselves refusing (bench/README.md).
        OSTIARY_RATE_LIMITS__ENABLED="false",
    )
    env.update(settings or {})
    argv = [str(OSTIARY), "serve", "--port", str(port), "--workers", str(workers)]
    process = Process(name, argv, env, log)
    process.wait_ready(f"http://127.0.0.1:{port}/health")
    return process


def start_peer(port: int, client_id: str, client_secret: str, log: Path) -> Process:
    argv = ["node", str(PEER_SCRIPT), str(port), client_id, client_secret]
    env = {**os.environ, "NODE_ENV": "production"}
    process = Process("node-oidc-provider", argv, env, log)
    process.wait_ready(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    return process
