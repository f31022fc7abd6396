"""The gateway's HTTP/1.1 upstream client (gateway/upstream_http.py) against raw upstreams.

Every upstream here is a few lines of ``asyncio.start_server`` on 127.0.0.1 that reads
the request bytes itself and writes the response bytes verbatim, so each test controls
the exact framing, timing and closing the client sees (RFC 9112: §6.3 message body
length, §7.1 chunked coding, §9.3 persistence, §9.3.1 retrying requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from ostiary.gateway.upstream_http import (
    Connection,
    IncompleteResponse,
    UpstreamError,
    UpstreamPool,
    UpstreamTimeout,
)
from tests.conftest import free_port

Headers = list[tuple[bytes, bytes]]


# The raw upstream ---------------------------------------------------------------------
@dataclass
class Request:
    """One request as the upstream read it off the wire."""

    line: bytes
    headers: Headers
    raw_body: bytes  # the body bytes exactly as sent, chunk framing included
    body: bytes  # the content, chunk framing removed

    def values(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key.lower() == name]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection; None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    line, *fields = head[:-4].split(b"\r\n")
    headers = [(name, value.strip()) for name, value in (f.split(b":", 1) for f in fields)]
    request = Request(line, headers, b"", b"")
    if b"chunked" in b",".join(request.values(b"transfer-encoding")):
        raw, content = bytearray(), bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line[:-2], 16)
            if size == 0:
                raw += await reader.readuntil(b"\r\n")  # no trailer fields: the empty line
                break
            data = await reader.readexactly(size + 2)
            raw += data
            content += data[:-2]
        request.raw_body, request.body = bytes(raw), bytes(content)
    elif lengths := request.values(b"content-length"):
        request.raw_body = request.body = await reader.readexactly(int(lengths[0]))
    return request


@dataclass
class Peer:
    """The upstream's side of one accepted connection."""

    index: int  # 0 for the first connection the upstream accepted, 1 for the next...
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    log: list[tuple[int, Request]]

    async def request(self) -> Request | None:
        request = await read_request(self.reader)
        if request is not None:
            self.log.append((self.index, request))
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_client_closes(self) -> bytes:
        return await self.reader.read()


Handler = Callable[[Peer], Awaitable[None]]


@dataclass
class RawUpstream:
    """A TCP server on 127.0.0.1 running ``handler`` for each connection it accepts."""

    handler: Handler
    connections: int = 0
    requests: list[tuple[int, Request]] = field(default_factory=list)  # (connection, request)
    errors: list[BaseException] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> RawUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.errors:
            raise AssertionError(f"the upstream handler failed: {self.errors!r}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = Peer(self.connections, reader, writer, self.requests)
        self.connections += 1
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: the tests check what it saw
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._tasks.discard(task)

    def lines(self) -> list[tuple[int, bytes]]:
        return [(index, request.line) for index, request in self.requests]


def ok(body: bytes = b"", *fields: bytes) -> bytes:
    """A keep-alive 200 with a Content-Length (and any extra header lines)."""
    extra = b"".join(line + b"\r\n" for line in fields)
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%b\r\n%b" % (len(body), extra, body)


def answering(response: bytes) -> Handler:
    """Answers every request on every connection with ``response``, keeping it open."""

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(response)

    return handler


# The client side ----------------------------------------------------------------------
@contextlib.asynccontextmanager
async def open_pool(
    upstream: RawUpstream,
    path: str = "",
    *,
    connect_timeout: float = 1.0,
    read_timeout: float = 1.0,
    max_connections: int = 256,
) -> AsyncIterator[UpstreamPool]:
    pool = UpstreamPool(
        f"http://127.0.0.1:{upstream.port}{path}",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_connections=max_connections,
    )
    try:
        yield pool
    finally:
        await pool.aclose()
        await asyncio.sleep(0)  # closed transports finish closing on the next turn


@dataclass
class Exchange:
    connection: Connection
    status: int
    headers: Headers
    body: bytes
    chunks: list[bytes]


async def exchange(
    pool: UpstreamPool,
    method: str = "GET",
    target: bytes = b"/",
    headers: Headers | None = None,
    body: AsyncIterator[bytes] | None = None,
) -> Exchange:
    """One request, its whole response body read, its connection released."""
    connection = await pool.request(method, target, headers or [], body)
    try:
        chunks = [chunk async for chunk in connection.body()]
    finally:
        pool.release(connection)
    return Exchange(
        connection, connection.status, connection.headers, b"".join(chunks), chunks
    )


async def body_of(*parts: bytes, pause: float = 0.0) -> AsyncIterator[bytes]:
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


# §9.3 persistence -----------------------------------------------------------------------
def test_rfc9112_9_3_keep_alive_reuses_one_connection_for_sequential_requests() -> None:
    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with (
            RawUpstream(answering(ok(b"hello"))) as upstream,
            open_pool(upstream, "/prefix/") as pool,
        ):
            headers = [(b"accept", b"text/plain"), (b"x-request-id", b"abc123")]
            first = await exchange(pool, "GET", b"/x?q=1", headers)
            second = await exchange(pool, "GET", b"/x?q=1", headers)
        return upstream, [first, second]

    upstream, results = asyncio.run(main())
    assert upstream.connections == 1
    assert results[0].connection is results[1].connection
    assert [(r.status, r.body) for r in results] == [(200, b"hello")] * 2
    assert upstream.lines() == [(0, b"GET /prefix/x?q=1 HTTP/1.1")] * 2
    for _, request in upstream.requests:
        assert request.values(b"host") == [b"127.0.0.1:%d" % upstream.port]
        assert request.values(b"accept") == [b"text/plain"]
        assert request.values(b"x-request-id") == [b"abc123"]
        # a bodyless request announces no body
        assert request.values(b"content-length") == []
        assert request.values(b"transfer-encoding") == []


def test_rfc9110_7_2_a_given_host_header_is_sent_once_and_unchanged() -> None:
    async def main() -> RawUpstream:
        async with RawUpstream(answering(ok())) as upstream, open_pool(upstream) as pool:
            await exchange(pool, "GET", b"/", [(b"host", b"app.example")])
        return upstream

    upstream = asyncio.run(main())
    [(_, request)] = upstream.requests
    assert request.line == b"GET / HTTP/1.1"
    assert request.values(b"host") == [b"app.example"]


def test_rfc9112_9_6_a_response_with_connection_close_is_not_reused() -> None:
    # The upstream says "close" but keeps the socket open: the client must honour the field,
    # not wait to see the connection end.
    response = ok(b"bye", b"Connection: close")

    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(answering(response)) as upstream, open_pool(upstream) as pool:
            results = [await exchange(pool), await exchange(pool)]
        return upstream, results

    upstream, results = asyncio.run(main())
    assert [r.body for r in results] == [b"bye", b"bye"]
    assert upstream.connections == 2
    assert upstream.lines() == [(0, b"GET / HTTP/1.1"), (1, b"GET / HTTP/1.1")]


def test_rfc9112_9_3_an_http_1_0_response_without_keep_alive_is_not_reused() -> None:
    response = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"

    async def main() -> RawUpstream:
        async with RawUpstream(answering(response)) as upstream, open_pool(upstream) as pool:
            assert (await exchange(pool)).body == b"ok"
            assert (await exchange(pool)).body == b"ok"
        return upstream

    assert asyncio.run(main()).connections == 2


# §6.3 message body length -------------------------------------------------------------
def test_rfc9112_6_3_content_length_body_is_read_completely_and_exactly() -> None:
    content = bytes(range(256)) * 40 + b"\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"  # framing-looking bytes

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(content)
            await peer.send(head + content[:100])  # in several writes
            await asyncio.sleep(0.01)
            await peer.send(content[100:5000])
            await asyncio.sleep(0.01)
            await peer.send(content[5000:])

    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            results = [await exchange(pool), await exchange(pool)]
        return upstream, results

    upstream, results = asyncio.run(main())
    for result in results:
        assert result.status == 200
        assert result.headers == [(b"Content-Length", str(len(content)).encode())]
        assert result.body == content
    assert upstream.connections == 1  # complete, so reusable


def test_rfc9112_7_1_chunked_body_of_several_chunks_is_read_completely_and_exactly() -> None:
    parts = [b"first chunk;", b"x" * 300, b"0\r\n\r\n (looks like an end but is data)", b"!"]

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in parts:
                await peer.send(b"%x\r\n%b\r\n" % (len(part), part))
                await asyncio.sleep(0.005)
            await peer.send(b"0\r\n\r\n")

    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            results = [await exchange(pool), await exchange(pool)]
        return upstream, results

    upstream, results = asyncio.run(main())
    for result in results:
        assert result.status == 200
        assert result.body == b"".join(parts)
        assert len(result.chunks) >= 2  # streamed as it came, not buffered whole
    assert upstream.connections == 1  # the last chunk ended the message: reusable


def test_rfc9112_6_3_body_delimited_by_close_is_read_to_the_end_and_not_reused() -> None:
    # §6.3 (8): neither Content-Length nor Transfer-Encoding: the body ends with the connection.
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ")
        await asyncio.sleep(0.02)
        await peer.send(b"part two, ")
        await asyncio.sleep(0.02)
        await peer.send(b"the end")
        # the handler returns: the upstream closes the connection

    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            first = await exchange(pool)
            assert first.connection.closed
            second = await exchange(pool)
        return upstream, [first, second]

    upstream, results = asyncio.run(main())
    assert [r.body for r in results] == [b"part one, part two, the end"] * 2
    assert results[0].connection is not results[1].connection
    assert upstream.connections == 2


def test_rfc9112_6_3_transfer_coding_other_than_chunked_is_delimited_by_close() -> None:
    # §6.3 (4): "If a Transfer-Encoding header field is present in a response and the chunked
    # transfer coding is not the final encoding, the message body length is determined by
    # reading the connection until it is closed by the server."
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nGZIPPED-BYTES")

    async def main() -> bytes:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            return (await exchange(pool)).body

    assert asyncio.run(main()) == b"GZIPPED-BYTES"
