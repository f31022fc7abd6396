"""A private PostgreSQL server for tests that stop, restart or break it.

The shared server on 127.0.0.1:5432 serves every other test of the run, so fault tests get
their own: ``initdb`` into a temporary directory, started on a free port with
``pg_ctl``. As root (CI) the binaries run as the ``postgres`` user, since ``initdb``
refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PrivatePostgres:
    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.data = root / "data"
        self.log = root / "server.log"
        self.root = root
        self.port = port

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}\n{log}")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c full_page_writes=off -c unix_socket_directories={self.root}"
        )
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options,
            *extra,
        )  # fmt: skip

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        """Starts on ``self.port``, or on another free port if something took that one
        between choosing it and binding it (a server of a parallel test, say)."""
        for attempt in range(5):
            try:
                self._pg_ctl("start")
                return
            except RuntimeError as failed:
                if "Address already in use" not in str(failed) or attempt == 4:
                    raise
                self.log.unlink(missing_ok=True)
                self.port = free_port()

    def restart(self) -> None:
        """A fast shutdown (every backend gets SQLSTATE 57P01), then a start."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private server; skipped when the binaries are missing, except under CI."""
    bin_dir = binaries()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are required under CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="ostiary-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(bin_dir, root, free_port())
    try:
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
