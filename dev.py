#!/usr/bin/env python3
"""The two Quickstart commands, runnable on a fresh clone with only Python >= 3.11.

    python3 dev.py demo    # install into .venv, migrate SQLite, serve a demo on :8080
    python3 dev.py test    # install into .venv with test tools: ruff, mypy, then the tests

Extra arguments after ``test`` go to pytest; after ``demo`` to ``ostiary serve``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def _ensure_env(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Ostiary needs Python >= 3.11")
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print(f"installing ostiary{extras} into .venv ...", file=sys.stderr, flush=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True
    )
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", f".{extras}"],
        check=True,
        cwd=ROOT,
    )
    STAMP.write_text(fingerprint)


def demo(args: list[str]) -> int:
    _ensure_env("[server,postgres,redis]")
    os.execv(str(BIN / "ostiary"), [str(BIN / "ostiary"), "serve", "--demo", *args])
    return 0  # not reached


def _parallel(args: list[str]) -> list[str]:
    """Four pytest-xdist workers, a test file per worker at a time: the suite mostly waits
    on servers, subprocesses and the network, so four beat two even on two cores. Any -n
    given on the command line wins (``-n 0`` runs in one process)."""
    if any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in args):
        return []
    return ["-n", "4", "--dist", "loadfile"]


def _coverage(args: list[str]) -> list[str]:
    """The whole suite (no arguments) measures coverage of src/ostiary and fails under the
    floor in pyproject.toml ([tool.coverage.report] fail_under); a chosen subset of the
    tests would fall under it by design, so it runs without."""
    return [] if args else ["--cov", "--cov-report=term:skip-covered"]


def test(args: list[str]) -> int:
    _ensure_env("[all,dev]")
    steps = [
        [str(BIN / "ruff"), "check", "src", "tests", "bench", "dev.py"],
        [str(BIN / "ruff"), "format", "--check", "src", "tests", "bench", "dev.py"],
        # Type checks: --strict on protocol, domain and resource code ([tool.mypy]).
        [str(BIN / "mypy")],
        [str(BIN / "python"), "-m", "pytest", *_parallel(args), *_coverage(args), *args],
    ]
    for step in steps:
        print(
            "$ " + " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
            file=sys.stderr,
            flush=True,
        )
        code = subprocess.run(step, cwd=ROOT).returncode
        if code != 0:
            return code
    return 0


COMMANDS = {"demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(COMMANDS)}}} [args...]")
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
