"""Run the real ``ostiary`` executable as a subprocess, and always stop it.

Shared by the serve and browser tests: ``Servers`` starts ``ostiary serve``, collects its
stdout and stderr in background threads (so a full pipe never blocks the server) and
stops every process it started with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

OSTIARY = Path(sys.executable).parent / "ostiary"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any OSTIARY_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTIARY_")}
    env.update(settings)
    return env


@dataclass(frozen=True)
class DemoCredentials:
    url: str
    username: str
    password: str
    client_id: str


_DEMO_BLOCK = re.compile(
    r"open:\s+(?P<url>\S+)\s+username:\s+(?P<username>\S+)\s+"
    r"password:\s+(?P<password>\S+)\s+client_id:\s+(?P<client_id>\S+)"
)


class ServerProcess:
    """One running ``ostiary serve``."""

    def __init__(self, proc: subprocess.Popen[str], base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._drain, args=(proc.stdout, self._stdout), daemon=True),
            threading.Thread(target=self._drain, args=(proc.stderr, self._stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line)

    @property
    def stdout(self) -> str:
        return "".join(self._stdout)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def _died(self) -> AssertionError:
        return AssertionError(
            f"ostiary serve exited with {self.proc.returncode}; stderr:\n{self.stderr}"
        )

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise self._died()
                try:
                    if http.get("/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise AssertionError(f"/health did not answer in {timeout}s; stderr:\n{self.stderr}")

    def wait_for_stderr(self, pattern: re.Pattern[str], timeout: float = 10) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = pattern.search(self.stderr)
            if match:
                return match
            if self.proc.poll() is not None:
                raise self._died()
            time.sleep(0.05)
        raise AssertionError(f"{pattern.pattern!r} never appeared on stderr:\n{self.stderr}")

    def demo_credentials(self) -> DemoCredentials:
        match = self.wait_for_stderr(_DEMO_BLOCK)
        return DemoCredentials(**match.groupdict())

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; returns the exit status.

        uvicorn shuts down gracefully on SIGTERM and then re-raises the signal, so a clean
        stop returns ``-SIGTERM`` (see ``stop_cleanly``).
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=STOP_TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def stop_cleanly(self) -> None:
        """Stop, and check the server shut down on SIGTERM without being killed."""
        status = self.stop()
        assert status in (0, -signal.SIGTERM), f"exit status {status}; stderr:\n{self.stderr}"
        assert "Application shutdown complete" in self.stderr, self.stderr


class Servers:
    """Starts ``ostiary serve`` processes; ``stop_all`` (in a finally) ends every one."""

    def __init__(self) -> None:
        self._started: list[ServerProcess] = []

    def start(
        self, *args: str, port: int, env: dict[str, str], cwd: Path, wait: bool = True
    ) -> ServerProcess:
        proc = subprocess.Popen(
            [str(OSTIARY), "serve", "--port", str(port), *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = ServerProcess(proc, f"http://127.0.0.1:{port}")
        self._started.append(server)
        if wait:
            server.wait_healthy()
        return server

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        while self._started:
            try:
                self._started.pop().stop()
            except BaseException as exc:  # stop the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]


def run_cli(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``ostiary ARGS`` in ``env`` (and ``cwd``), stdin closed, output captured."""
    return subprocess.run(
        [str(OSTIARY), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_json(env: dict[str, str], *args: str) -> dict[str, object]:
    """``ostiary ARGS --json`` in ``env``: its one JSON document (the command must succeed)."""
    done = subprocess.run(
        [str(OSTIARY), *args, "--json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]
