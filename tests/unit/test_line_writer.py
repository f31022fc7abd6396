"""The batched line writer: order kept, whole lines per write, nothing left at shutdown."""

from __future__ import annotations

import asyncio
import logging
import os

from ostiary.observability.line_writer import PIPE_BUF, LineHandler, LineWriter
from ostiary.observability.logging_setup import JsonFormatter


class Recording:
    """A text stream without a file descriptor that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    @property
    def lines(self) -> list[str]:
        return "".join(self.writes).splitlines()


def line(index: int, width: int = 100) -> bytes:
    return f"line {index:05d} ".encode().ljust(width, b"x") + b"\n"


def test_lines_kept_on_a_loop_are_written_together_in_order() -> None:
    stream = Recording()
    writer = LineWriter(stream, delay=0.01)  # type: ignore[arg-type]

    async def burst() -> None:
        for index in range(20):
            writer.add(line(index))
        assert stream.writes == []  # kept until the batch is full or its time is up
        await asyncio.sleep(0.05)

    asyncio.run(burst())
    assert len(stream.writes) == 1
    assert stream.lines == [line(i).decode().rstrip("\n") for i in range(20)]


def test_a_write_is_whole_lines_and_at_most_pipe_buf() -> None:
    stream = Recording()
    writer = LineWriter(stream)  # type: ignore[arg-type]
    lines = [line(i, width=97 + i % 50) for i in range(400)]
    long = b"y" * (PIPE_BUF + 100) + b"\n"

    async def burst() -> None:
        for made in lines[:200]:
            writer.add(made)
        writer.add(long)
        for made in lines[200:]:
            writer.add(made)
        writer.flush()

    asyncio.run(burst())
    assert "".join(stream.writes).encode() == b"".join([*lines[:200], long, *lines[200:]])
    for written in stream.writes:
        assert written.endswith("\n")
        # Only a line longer than PIPE_BUF goes over it, alone.
        assert len(written.encode()) <= PIPE_BUF or written.encode() == long
    assert len(stream.writes) < 30


def test_outside_a_loop_a_line_is_written_at_once() -> None:
    stream = Recording()
    writer = LineWriter(stream)  # type: ignore[arg-type]
    writer.add(line(1))
    assert stream.lines == [line(1).decode().rstrip("\n")]


def test_flush_writes_what_a_stopped_loop_left() -> None:
    stream = Recording()
    writer = LineWriter(stream, delay=3600)  # type: ignore[arg-type]

    async def serve_then_stop() -> None:
        writer.add(line(1))
        writer.add(line(2))

    # The loop ends long before its timer: the lines wait for the shutdown's flush.
    asyncio.run(serve_then_stop())
    assert stream.writes == []
    writer.flush()
    assert stream.lines == [line(1).decode().rstrip("\n"), line(2).decode().rstrip("\n")]


def test_a_new_loop_sets_its_own_timer_after_one_stopped_without_its_own() -> None:
    stream = Recording()
    writer = LineWriter(stream, delay=0.01)  # type: ignore[arg-type]

    async def first() -> None:
        writer.add(line(1))

    async def second() -> None:
        writer.add(line(2))
        await asyncio.sleep(0.05)

    asyncio.run(first())
    asyncio.run(second())
    assert stream.lines == [line(1).decode().rstrip("\n"), line(2).decode().rstrip("\n")]


def test_a_record_is_written_at_once_after_the_kept_lines() -> None:
    stream = Recording()
    handler = LineHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "stopped", None, None)

    async def run() -> None:
        handler.writer.add(b"kept\n")
        handler.handle(record)
        assert len(stream.writes) == 1

    asyncio.run(run())
    kept, logged = stream.lines
    assert kept == "kept"
    assert '"message":"stopped"' in logged


def test_logging_shutdown_flushes_the_handler() -> None:
    stream = Recording()
    handler = LineHandler(stream)  # type: ignore[arg-type]

    async def run() -> None:
        handler.writer.add(b"last\n")

    asyncio.run(run())
    # What logging.shutdown does for every handler at exit.
    handler.flush()
    handler.close()
    assert stream.lines == ["last"]


def test_to_a_file_descriptor_bytes_arrive_whole_and_in_order() -> None:
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "w", closefd=False) as stream:
            writer = LineWriter(stream)
            sent = [line(i) for i in range(30)] + ["é ünïcode\n".encode()]

            async def burst() -> None:
                for made in sent:
                    writer.add(made)

            asyncio.run(burst())
            writer.flush()
        received = b""
        expected = b"".join(sent)
        while len(received) < len(expected):
            received += os.read(read_end, 65536)
        assert received == expected
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_closed_stream_loses_its_lines_without_raising() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = os.fdopen(write_end, "w")
    writer = LineWriter(stream)
    stream.close()
    writer.write(b"nobody reads this\n")  # EBADF: dropped, the server goes on
    # Nothing stays behind to come out later.
    recording = Recording()
    writer.set_stream(recording)  # type: ignore[arg-type]
    writer.write(b"next\n")
    assert recording.lines == ["next"]
