"""One bash for one document: its marked blocks run in order in the same shell (``set -eu``),
so what a block exports the next one sees; background blocks run in their own process group
until the document is done."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.docs.blocks import DocBlock

BLOCK_TIMEOUT = 180.0
WAIT_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
TAIL_LINES = 40

# The shell reads "run FILE" or "bg FILE" from one pipe and answers on another. Each block
# is sourced with both pipes closed, so nothing it starts can hold them open; a failing
# command ends the shell (set -e), which the harness sees as the end of the answers.
DRIVER = r"""
set -eu
trap 'printf "doctest: exit status %s from: %s\n" "$?" "$BASH_COMMAND" >&2' ERR
exec 9<&"$DOCTEST_CONTROL_FD" 8>&"$DOCTEST_STATUS_FD"
exec {DOCTEST_CONTROL_FD}<&- {DOCTEST_STATUS_FD}>&-
unset DOCTEST_CONTROL_FD DOCTEST_STATUS_FD
while IFS=' ' read -r __doctest_kind __doctest_file <&9; do
  if [ "$__doctest_kind" = bg ]; then
    set -m
    ( . "$__doctest_file" ) >"$__doctest_file.log" 2>&1 </dev/null 8>&- 9<&- &
    set +m
    printf 'pid %s\n' "$!" >&8
  else
    . "$__doctest_file" 8>&- 9<&-
  fi
  printf 'done\n' >&8
done
"""


class BlockFailed(AssertionError):
    """A block that failed, timed out, or whose server never answered."""


@dataclass
class DocShell:
    """The shell a document's blocks run in: ``workdir`` is its current directory."""

    document: str
    workdir: Path
    env: dict[str, str]
    logdir: Path
    _process: subprocess.Popen[bytes] | None = None
    _control: int = -1
    _status: int = -1
    _groups: list[int] = field(default_factory=list)
    _count: int = 0

    def start(self) -> None:
        control_read, self._control = os.pipe()
        self._status, status_write = os.pipe()
        env = {
            **self.env,
            "DOCTEST_CONTROL_FD": str(control_read),
            "DOCTEST_STATUS_FD": str(status_write),
        }
        self.logdir.mkdir(parents=True, exist_ok=True)
        (self.logdir / "driver.sh").write_text(DRIVER)
        with (
            (self.logdir / "stdout").open("wb") as stdout,
            (self.logdir / "stderr").open("wb") as stderr,
        ):
            self._process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", str(self.logdir / "driver.sh")],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(control_read, status_write),
                start_new_session=True,
            )
        os.close(control_read)
        os.close(status_write)

    def run(self, block: DocBlock) -> None:
        """Run one block; raise BlockFailed with the block, its line, status and output."""
        assert self._process is not None, "start() the shell first"
        if self._process.poll() is not None:
            raise BlockFailed(
                f"{self.document}, block at line {block.line}: the shell ended at an earlier block"
            )
        self._count += 1
        script = self.logdir / f"block{self._count}-line{block.line}.sh"
        script.write_text(block.source)
        if block.background:
            self._refuse_busy_port(block)
        offsets = (self._size("stdout"), self._size("stderr"))
        os.write(self._control, f"{'bg' if block.background else 'run'} {script}\n".encode())
        answers = self._answers(block, offsets)
        if block.background:
            pid = int(answers[0].removeprefix("pid "))
            self._groups.append(pid)
            self._wait_for(block, pid, script.with_name(script.name + ".log"))

    def close(self) -> None:
        """Stop the shell and every background process group it started."""
        if self._control >= 0:
            os.close(self._control)
            self._control = -1
        groups = list(self._groups)
        if self._process is not None:
            groups.append(self._process.pid)
        for group in groups:
            _signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_group_alive(group) for group in groups) and time.monotonic() < deadline:
            time.sleep(0.05)
        for group in groups:
            _signal_group(group, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=STOP_TIMEOUT)
        if self._status >= 0:
            os.close(self._status)
            self._status = -1

    def _answers(self, block: DocBlock, offsets: tuple[int, int]) -> list[str]:
        """Lines the shell answered for this block, up to "done"; a shell that exits or a
        block that outlives BLOCK_TIMEOUT is a failure."""
        answers: list[str] = []
        buffer = b""
        deadline = time.monotonic() + BLOCK_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._status], [], [], max(remaining, 0))
            if not ready:
                self.close()
                self._fail(block, offsets, f"timed out after {BLOCK_TIMEOUT:.0f} s")
            chunk = os.read(self._status, 4096)
            if not chunk:
                assert self._process is not None
                code = self._process.wait(timeout=STOP_TIMEOUT)
                self._fail(block, offsets, f"failed with exit status {code}")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line == b"done":
                    return answers
                answers.append(line.decode())

    def _wait_for(self, block: DocBlock, pid: int, log: Path) -> None:
        """Poll the block's wait URL until it answers the expected status."""
        assert block.wait_url is not None
        deadline = time.monotonic() + WAIT_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if not _process_running(pid):
                self._fail_background(block, log, f"exited before {block.wait_url} answered")
            try:
                with urllib.request.urlopen(block.wait_url, timeout=2) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
                error.close()
            except (OSError, urllib.error.URLError) as error:
                last = str(error)
                time.sleep(0.2)
                continue
            if status == block.wait_status:
                return
            last = f"status {status}"
            time.sleep(0.2)
        self._fail_background(
            block,
            log,
            f"{block.wait_url} did not answer {block.wait_status} within "
            f"{WAIT_TIMEOUT:.0f} s (last: {last})",
        )

    def _refuse_busy_port(self, block: DocBlock) -> None:
        assert block.wait_url is not None
        url = urlsplit(block.wait_url)
        host, port = url.hostname or "127.0.0.1", url.port
        assert port is not None
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.settimeout(1)
            busy = sock.connect_ex((host, port)) == 0
        if busy:
            raise BlockFailed(
                f"{self.document}, block at line {block.line}: port {port} on {host} is "
                "already in use before this background block starts; stop what listens "
                f"there and run again\n{_indent(block.source)}"
            )

    def _fail(self, block: DocBlock, offsets: tuple[int, int], what: str) -> None:
        stdout = _tail(self.logdir / "stdout", offsets[0])
        stderr = _tail(self.logdir / "stderr", offsets[1])
        raise BlockFailed(
            f"{self.document}, block at line {block.line} {what}:\n{_indent(block.source)}\n"
            f"--- stdout (last {TAIL_LINES} lines) ---\n{stdout}\n"
            f"--- stderr (last {TAIL_LINES} lines) ---\n{stderr}"
        )

    def _fail_background(self, block: DocBlock, log: Path, what: str) -> None:
        raise BlockFailed(
            f"{self.document}, background block at line {block.line} {what}:\n"
            f"{_indent(block.source)}\n"
            f"--- its output (last {TAIL_LINES} lines) ---\n{_tail(log, 0)}"
        )

    def _size(self, name: str) -> int:
        return (self.logdir / name).stat().st_size


def _tail(path: Path, offset: int) -> str:
    if not path.exists():
        return "(none)"
    with path.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-TAIL_LINES:]) or "(empty)"


def _indent(source: str) -> str:
    return "\n".join(f"    {line}" for line in source.rstrip("\n").splitlines())


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command name: state, ppid, pgrp.
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _process_running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"
