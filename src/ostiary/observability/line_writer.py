"""Log lines to a stream in batches: one write for many lines, not one per line.

``logging.StreamHandler`` writes and flushes every record: one ``write()`` system call per
request line. Here lines made on an event loop are kept and written together when they
fill ``PIPE_BUF`` bytes, or ``DELAY`` seconds after the first of them at the latest (one
timer per batch: scheduling a flush on every loop iteration cost more than it saved,
bench/README.md). A line made outside a running loop (another thread, start-up, exit)
or a record (``LineHandler.emit``) is written at once, after the lines kept before it;
``flush`` writes what is kept (the app's shutdown, logging's at exit).

A write holds whole lines and at most ``PIPE_BUF`` bytes (a longer line goes alone): the
workers of ``serve --workers N`` share one stderr pipe, and POSIX keeps a write of that
size in one piece against the other writers'.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import sys
import threading
from typing import TextIO

# A write to a pipe this long or shorter is never interleaved with another process's.
PIPE_BUF = getattr(select, "PIPE_BUF", 512)
# The longest a kept line waits for the rest of its batch.
DELAY = 0.05


class LineWriter:
    """Whole lines (UTF-8 bytes, each ending in a newline) to ``stream``, in batches, in
    the order they were given."""

    def __init__(self, stream: TextIO, *, size: int = PIPE_BUF, delay: float = DELAY) -> None:
        self._batch_size = size
        self._delay = delay
        self._lines: list[bytes] = []
        self._size = 0
        # The loop whose timer will flush the kept lines (None: no timer is set).
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.set_stream(stream)

    def set_stream(self, stream: TextIO) -> None:
        self.stream = stream
        # Straight to the file descriptor when there is one: no text layer, one system
        # call per batch. A stream without one (a test's capture) is written as text.
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def add(self, line: bytes) -> None:
        """Keep one line for its batch's write."""
        with self._lock:
            # A batch never grows past PIPE_BUF: the lines before this one go first.
            size = self._size + len(line)
            if size > self._batch_size and self._lines:
                self._write_kept()
                size = len(line)
            self._lines.append(line)
            self._size = size
            if size >= self._batch_size:
                self._write_kept()
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._write_kept()
                return
            # A loop that stopped before its timer ran left lines here: the next loop to
            # keep one sets its own timer.
            if self._timer_loop is not loop:
                self._timer_loop = loop
                loop.call_later(self._delay, self._timed_flush, loop)

    def write(self, line: bytes) -> None:
        """Write one line now, after the lines kept before it."""
        with self._lock:
            if self._lines and self._size + len(line) > self._batch_size:
                self._write_kept()
            self._lines.append(line)
            self._write_kept()

    def flush(self) -> None:
        """Write every kept line."""
        with self._lock:
            if self._lines:
                self._write_kept()

    def _timed_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._timer_loop is loop:
                self._timer_loop = None
            if self._lines:
                self._write_kept()

    def _write_kept(self) -> None:
        batch = b"".join(self._lines)
        self._lines, self._size = [], 0
        try:
            if self._fd is None:
                self.stream.write(batch.decode())
                self.stream.flush()
                return
            written = os.write(self._fd, batch)
            while written < len(batch):  # a signal cut the write short
                batch = batch[written:]
                written = os.write(self._fd, batch)
        except (OSError, ValueError):
            # stderr gone or closed (a worker at exit): nothing is left to report it on.
            pass


class LineHandler(logging.StreamHandler[TextIO]):
    """The handler ``ostiary serve`` logs through: a record is written at once (after the
    lines kept before it); the request lines join a batch through ``writer``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.writer = LineWriter(self.stream)

    def setStream(self, stream: TextIO) -> TextIO | None:
        self.flush()
        previous = super().setStream(stream)
        self.writer.set_stream(stream)
        return previous

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self.writer.write(line.encode("utf-8", "backslashreplace"))

    def flush(self) -> None:
        self.writer.flush()
