"""The gateway's HTTP/1.1 upstream client (gateway/upstream_http.py) against raw upstreams.

Every upstream here is a few lines of ``asyncio.start_server`` on 127.0.0.1 that reads
the request bytes itself and writes the response bytes verbatim, so each test controls
the exact framing, timing and closing the client sees (RFC 9112: §6.3 message body
length, §7.1 chunked coding, §9.3 persistence, §9.3.1 retrying requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ostiary.gateway.upstream_http import (
    Connection,
    IncompleteResponse,
    UpstreamError,
    UpstreamPool,
    UpstreamTimeout,
)
from tests.conftest import free_port
from tests.e2e.certified_helpers import make_tls_files

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
    tls: ssl.SSLContext | None = None  # serve https with this context
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)  # cancelled at exit
    _served: set[asyncio.Task[None]] = field(default_factory=set)  # awaited at exit

    async def __aenter__(self) -> RawUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._served)
        if self.errors:
            raise AssertionError(f"the upstream handler failed: {self.errors!r}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The handler runs in a task of its own: cancelling it at exit leaves this callback
        # (which asyncio's streams inspect when it ends) finishing normally.
        served = asyncio.current_task()
        assert served is not None
        self._served.add(served)
        peer = Peer(self.connections, reader, writer, self.requests)
        self.connections += 1
        handler = asyncio.create_task(self._run(peer))
        self._handlers.add(handler)
        try:
            await asyncio.wait({handler})
        finally:
            self._handlers.discard(handler)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._served.discard(served)

    async def _run(self, peer: Peer) -> None:
        try:
            await self.handler(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: the tests check what it saw
        except Exception as exc:
            self.errors.append(exc)

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
    trust: ssl.SSLContext | None = None,
) -> AsyncIterator[UpstreamPool]:
    scheme = "https" if upstream.tls else "http"
    pool = UpstreamPool(
        f"{scheme}://127.0.0.1:{upstream.port}{path}",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_connections=max_connections,
        ssl_context=trust,
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
    return Exchange(connection, connection.status, connection.headers, b"".join(chunks), chunks)


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


def two_exchanges(handler: Callable[[Peer], Awaitable[None]]) -> tuple[RawUpstream, list[Exchange]]:
    """Two GET / exchanges, one after the other, through a pool to this upstream."""

    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            results = [await exchange(pool), await exchange(pool)]
        return upstream, results

    return asyncio.run(main())


async def body_until(pool: UpstreamPool, error: type[Exception]) -> list[bytes]:
    """GET / and read its body until it raises ``error``: the chunks that came before."""
    chunks: list[bytes] = []
    connection = await pool.request("GET", b"/", [], None)
    try:
        with pytest.raises(error):
            async for chunk in connection.body():
                chunks.append(chunk)
    finally:
        pool.release(connection)
    return chunks


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

    upstream, results = two_exchanges(handler)
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

    upstream, results = two_exchanges(handler)
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


def test_rfc9110_9_3_2_head_response_has_no_body_whatever_its_content_length() -> None:
    async def main() -> tuple[RawUpstream, Exchange, float, Exchange]:
        response = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/html\r\n\r\n"
        async with (
            RawUpstream(answering(response)) as upstream,
            open_pool(upstream, read_timeout=2.0) as pool,
        ):
            started = time.monotonic()
            head = await exchange(pool, "HEAD")
            elapsed = time.monotonic() - started
            after = await exchange(pool, "HEAD")
        return upstream, head, elapsed, after

    upstream, head, elapsed, after = asyncio.run(main())
    assert head.status == 200
    assert (b"content-length", b"100") in head.headers
    assert head.chunks == []
    assert elapsed < 0.9  # did not wait for 100 bytes that never come
    assert after.chunks == []
    # the parser still expects those 100 bytes: the connection is not trusted again
    assert upstream.connections == 2
    assert upstream.lines() == [(0, b"HEAD / HTTP/1.1"), (1, b"HEAD / HTTP/1.1")]


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_rfc9110_15_3_5_and_15_4_5_204_and_304_have_no_body_and_are_reused(
    status: bytes,
) -> None:
    response = b'HTTP/1.1 %b\r\netag: "v1"\r\n\r\n' % status

    async def main() -> tuple[RawUpstream, list[Exchange], float]:
        async with (
            RawUpstream(answering(response)) as upstream,
            open_pool(upstream, read_timeout=2.0) as pool,
        ):
            started = time.monotonic()
            results = [await exchange(pool), await exchange(pool)]
            elapsed = time.monotonic() - started
        return upstream, results, elapsed

    upstream, results, elapsed = asyncio.run(main())
    assert [(r.status, r.body) for r in results] == [(int(status[:3]), b"")] * 2
    assert elapsed < 0.9
    assert upstream.connections == 1


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.js>\r\n\r\n",
    ],
    ids=["100", "103", "102-then-103"],
)
def test_rfc9110_15_2_interim_responses_are_skipped_for_the_final_one(interim: bytes) -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(interim)
            await asyncio.sleep(0.01)
            await peer.send(ok(b"final", b"x-final: yes"))

    upstream, results = two_exchanges(handler)
    for result in results:
        assert result.status == 200
        assert result.headers == [(b"content-length", b"5"), (b"x-final", b"yes")]
        assert result.body == b"final"
    assert upstream.connections == 1


# §9.3.1 retrying requests ---------------------------------------------------------------
async def answer_once(peer: Peer) -> None:
    """Answers one request on a connection, then ends it."""
    await peer.request()
    await peer.send(ok(b"one"))


def test_rfc9112_9_3_1_idle_connection_closed_by_upstream_is_not_used_again() -> None:
    # The upstream answers one request, then ends the idle connection (its keep-alive timeout)
    # and the client has seen the close before its next request.
    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(answer_once) as upstream, open_pool(upstream) as pool:
            first = await exchange(pool)
            await asyncio.sleep(0.05)
            assert first.connection.closed
            second = await exchange(pool)
        return upstream, [first, second]

    upstream, (first, second) = asyncio.run(main())
    assert (first.body, second.body) == (b"one", b"one")
    assert upstream.connections == 2
    assert upstream.lines() == [(0, b"GET / HTTP/1.1"), (1, b"GET / HTTP/1.1")]


def test_rfc9112_9_3_1_close_right_behind_the_response_does_not_fail_the_next_request() -> None:
    # The upstream closes as soon as it has answered; the next request follows at once, so
    # the client has usually not read the close yet and sends on the dying connection: the
    # bodyless GET goes again on a new one.
    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with RawUpstream(answer_once) as upstream, open_pool(upstream) as pool:
            results = [await exchange(pool) for _ in range(3)]
        return upstream, results

    upstream, results = asyncio.run(main())
    assert [r.body for r in results] == [b"one"] * 3
    assert upstream.connections == 3
    assert upstream.lines() == [(i, b"GET / HTTP/1.1") for i in range(3)]


def stale_after_one(peer: Peer) -> Awaitable[None]:
    """Each connection answers its first request, then takes the next one and closes without
    a byte: the upstream's idle close crossed the client's reuse of the connection."""

    async def handler() -> None:
        await peer.request()
        await peer.send(ok(b"one"))
        await peer.request()

    return handler()


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_rfc9112_9_3_1_bodyless_idempotent_request_is_retried_once_on_a_new_connection(
    method: str,
) -> None:
    async def main() -> tuple[RawUpstream, Exchange]:
        async with RawUpstream(stale_after_one) as upstream, open_pool(upstream) as pool:
            await exchange(pool)
            retried = await exchange(pool, method, b"/again")
        return upstream, retried

    upstream, retried = asyncio.run(main())
    assert retried.status == 200
    assert retried.body == (b"" if method == "HEAD" else b"one")
    line = f"{method} /again HTTP/1.1".encode()
    assert upstream.lines() == [(0, b"GET / HTTP/1.1"), (0, line), (1, line)]
    assert upstream.connections == 2


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_rfc9112_9_3_1_request_with_content_is_not_retried_when_upstream_closes(
    framing: str,
) -> None:
    async def main() -> tuple[RawUpstream, Exchange]:
        async with (
            RawUpstream(stale_after_one) as upstream,
            open_pool(upstream, max_connections=1) as pool,
        ):
            await exchange(pool)
            headers = [(b"content-length", b"7")] if framing == "content-length" else []
            with pytest.raises(IncompleteResponse):
                await pool.request("PUT", b"/doc", headers, body_of(b"payload"))
            # the failed exchange gave its slot back: a later request gets a connection
            after = await exchange(pool)
        return upstream, after

    upstream, after = asyncio.run(main())
    assert upstream.lines() == [
        (0, b"GET / HTTP/1.1"),
        (0, b"PUT /doc HTTP/1.1"),  # sent once, never again
        (1, b"GET / HTTP/1.1"),
    ]
    assert upstream.requests[1][1].body == b"payload"
    assert after.body == b"one"


def test_rfc9112_9_3_1_proxy_does_not_retry_a_non_idempotent_bodyless_request() -> None:
    # "A proxy MUST NOT automatically retry non-idempotent requests." The upstream read the
    # POST before closing: it may have acted on it, so the client must not send it again.
    async def main() -> RawUpstream:
        async with RawUpstream(stale_after_one) as upstream, open_pool(upstream) as pool:
            await exchange(pool)
            with pytest.raises(IncompleteResponse):
                await pool.request("POST", b"/transfer", [], None)
        return upstream

    upstream = asyncio.run(main())
    assert upstream.lines() == [(0, b"GET / HTTP/1.1"), (0, b"POST /transfer HTTP/1.1")]


# §7.1 / §6.2 request bodies -------------------------------------------------------------
def test_rfc9112_6_2_request_body_with_content_length_goes_out_raw() -> None:
    async def main() -> RawUpstream:
        async with RawUpstream(answering(ok(b"stored"))) as upstream, open_pool(upstream) as pool:
            content = [b"hello", b" world", b"\r\n0\r\n\r\n"]  # bytes sent as they are
            length = str(len(b"".join(content))).encode()
            headers = [(b"content-type", b"text/plain"), (b"content-length", length)]
            body = body_of(*content, pause=0.005)
            result = await exchange(pool, "POST", b"/upload", headers, body)
            assert result.body == b"stored"
        return upstream

    upstream = asyncio.run(main())
    [(_, request)] = upstream.requests
    assert request.line == b"POST /upload HTTP/1.1"
    assert request.values(b"content-length") == [b"18"]
    assert request.values(b"transfer-encoding") == []
    assert request.raw_body == b"hello world\r\n0\r\n\r\n"


def test_rfc9112_7_1_request_body_without_length_is_sent_chunked() -> None:
    parts = [b"abc", b"y" * 300, b"0\r\n\r\n"]

    async def main() -> RawUpstream:
        async with RawUpstream(answering(ok(b"stored"))) as upstream, open_pool(upstream) as pool:
            body = body_of(*parts, pause=0.005)
            result = await exchange(pool, "POST", b"/upload", [(b"x-a", b"1")], body)
            assert result.body == b"stored"
            # the message ended where it should: the connection carries the next request
            assert (await exchange(pool, "GET", b"/next")).body == b"stored"
        return upstream

    upstream = asyncio.run(main())
    assert upstream.connections == 1
    assert upstream.lines() == [(0, b"POST /upload HTTP/1.1"), (0, b"GET /next HTTP/1.1")]
    request = upstream.requests[0][1]
    assert request.values(b"transfer-encoding") == [b"chunked"]
    assert request.values(b"content-length") == []
    assert request.values(b"x-a") == [b"1"]
    assert request.raw_body == (
        b"3\r\nabc\r\n" + b"12c\r\n" + b"y" * 300 + b"\r\n" + b"5\r\n0\r\n\r\n\r\n" + b"0\r\n\r\n"
    )
    assert request.body == b"".join(parts)


def test_rfc9112_7_1_an_empty_piece_of_request_body_does_not_end_the_chunked_body() -> None:
    # A zero-length chunk is the last-chunk (§7.1): an empty piece from the body iterator
    # must not be framed as one, or the rest of the body reaches the upstream as a new
    # request.
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(ok(b"stored"))
        await peer.until_client_closes()

    async def main() -> RawUpstream:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            body = body_of(b"abc", b"", b"def")
            await exchange(pool, "POST", b"/upload", [], body)
        return upstream

    upstream = asyncio.run(main())
    assert upstream.requests[0][1].body == b"abcdef"


def test_rfc9112_9_6_response_sent_before_the_request_body_ended_is_delivered() -> None:
    # §9.6: a client sending content "SHOULD monitor the network connection for an error
    # response while it is transmitting the request"; the upstream refuses the upload at once
    # and closes, and that 413 is the answer to pass on, not a broken connection.
    async def handler(peer: Peer) -> None:
        await peer.reader.readuntil(b"\r\n\r\n")
        await peer.send(
            b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\n"
            b"too much"
        )
        peer.writer.write_eof()
        await peer.until_client_closes()

    async def main() -> Exchange:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            body = body_of(b"x" * 1000, b"y" * 1000, b"z" * 1000, pause=0.05)
            return await exchange(pool, "PUT", b"/big", [(b"content-length", b"3000")], body)

    result = asyncio.run(main())
    assert (result.status, result.body) == (413, b"too much")


# Timeouts -------------------------------------------------------------------------------
def test_upstream_that_never_answers_times_out_after_read_timeout() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.until_client_closes()

    async def main() -> tuple[RawUpstream, float]:
        async with (
            RawUpstream(handler) as upstream,
            open_pool(upstream, read_timeout=0.3) as pool,
        ):
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout):
                await pool.request("GET", b"/slow", [], None)
            return upstream, time.monotonic() - started

    upstream, elapsed = asyncio.run(main())
    assert 0.25 <= elapsed < 3.0  # timed out (not at once), and not much later
    assert upstream.lines() == [(0, b"GET /slow HTTP/1.1")]  # sent once, not retried


def test_upstream_that_stalls_mid_body_times_out_while_reading_the_body() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
        await peer.until_client_closes()

    async def main() -> tuple[list[bytes], float]:
        async with (
            RawUpstream(handler) as upstream,
            open_pool(upstream, read_timeout=0.3) as pool,
        ):
            started = time.monotonic()
            chunks = await body_until(pool, UpstreamTimeout)
            return chunks, time.monotonic() - started

    chunks, elapsed = asyncio.run(main())
    assert b"".join(chunks) == b"0123456789"
    assert 0.25 <= elapsed < 3.0  # timed out (not at once), and not much later


def test_read_timeout_counts_from_the_last_byte_so_interim_responses_keep_it_alive() -> None:
    # read_timeout is "seconds between bytes" and UpstreamTimeout means "no byte from the
    # upstream within the configured time": a 102 Processing every 0.2 s (RFC 2518 §10.1:
    # it tells the client the server is still working) keeps a 0.3 s timeout from firing.
    async def handler(peer: Peer) -> None:
        await peer.request()
        for _ in range(3):
            await asyncio.sleep(0.2)
            await peer.send(b"HTTP/1.1 102 Processing\r\n\r\n")
        await asyncio.sleep(0.2)
        await peer.send(ok(b"done"))
        await peer.until_client_closes()

    async def main() -> Exchange:
        async with (
            RawUpstream(handler) as upstream,
            open_pool(upstream, read_timeout=0.3) as pool,
        ):
            return await exchange(pool)

    assert asyncio.run(main()).body == b"done"


def test_connection_refused_is_an_upstream_error_not_a_timeout() -> None:
    async def main() -> UpstreamError:
        pool = UpstreamPool(
            f"http://127.0.0.1:{free_port()}", connect_timeout=1.0, read_timeout=1.0
        )
        try:
            with pytest.raises(UpstreamError) as caught:
                await pool.request("GET", b"/", [], None)
        finally:
            await pool.aclose()
        return caught.value

    started = time.monotonic()
    error = asyncio.run(main())
    assert not isinstance(error, UpstreamTimeout)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert time.monotonic() - started < 0.9


# Broken responses -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("framing", "received"),
    [
        (b"content-length: 1000\r\n\r\n0123456789", b"0123456789"),
        (b"transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n", b"hello"),
    ],
    ids=["shorter-than-content-length", "chunked-without-last-chunk"],
)
def test_rfc9112_8_body_cut_short_is_incomplete(framing: bytes, received: bytes) -> None:
    """What arrived is yielded, then the end of the connection is an error, not an end."""

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\n" + framing)

    async def main() -> list[bytes]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            return await body_until(pool, IncompleteResponse)

    assert b"".join(asyncio.run(main())) == received


@pytest.mark.parametrize(
    "garbage",
    [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad\r\n\r\n"],
    ids=["not-http", "bad-status", "bad-field"],
)
def test_rfc9112_4_malformed_response_is_an_upstream_error(garbage: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(garbage)
        await peer.until_client_closes()

    async def main() -> RawUpstream:
        async with (
            RawUpstream(handler) as upstream,
            open_pool(upstream, read_timeout=2.0) as pool,
        ):
            started = time.monotonic()
            with pytest.raises(UpstreamError) as caught:
                await pool.request("GET", b"/", [], None)
            assert not isinstance(caught.value, UpstreamTimeout)
            assert time.monotonic() - started < 1.8
        return upstream

    assert asyncio.run(main()).lines() == [(0, b"GET / HTTP/1.1")]


# Pool limits and release ----------------------------------------------------------------
def test_pool_limit_makes_a_second_request_wait_for_the_released_connection() -> None:
    async def main() -> tuple[RawUpstream, Exchange, Exchange]:
        async with (
            RawUpstream(answering(ok(b"hi"))) as upstream,
            open_pool(upstream, max_connections=1) as pool,
        ):
            first = await pool.request("GET", b"/1", [], None)
            second = asyncio.create_task(exchange(pool, "GET", b"/2"))
            await asyncio.sleep(0.1)
            assert not second.done()  # waiting for the only connection
            assert upstream.lines() == [(0, b"GET /1 HTTP/1.1")]
            body = b"".join([chunk async for chunk in first.body()])
            pool.release(first)
            waited = await second
        return upstream, Exchange(first, first.status, first.headers, body, [body]), waited

    upstream, first, second = asyncio.run(main())
    assert (first.body, second.body) == (b"hi", b"hi")
    assert second.connection is first.connection
    assert upstream.connections == 1
    assert upstream.lines() == [(0, b"GET /1 HTTP/1.1"), (0, b"GET /2 HTTP/1.1")]


def test_pool_limit_times_out_after_connect_timeout_when_nothing_is_released() -> None:
    async def main() -> tuple[RawUpstream, float]:
        async with (
            RawUpstream(answering(ok(b"hi"))) as upstream,
            open_pool(upstream, max_connections=1, connect_timeout=0.3) as pool,
        ):
            held = await pool.request("GET", b"/1", [], None)
            started = time.monotonic()
            try:
                with pytest.raises(UpstreamTimeout):
                    await pool.request("GET", b"/2", [], None)
                elapsed = time.monotonic() - started
            finally:
                pool.release(held)
        return upstream, elapsed

    upstream, elapsed = asyncio.run(main())
    assert 0.25 <= elapsed < 3.0  # timed out (not at once), and not much later
    assert upstream.lines() == [(0, b"GET /1 HTTP/1.1")]


@pytest.mark.parametrize("unread", ["all-arrived", "partly-arrived"])
def test_rfc9112_9_3_release_with_body_unread_closes_the_connection(unread: str) -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            if unread == "all-arrived" or peer.index > 0:
                await peer.send(ok(b"body"))
            else:
                await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")

    async def main() -> tuple[RawUpstream, Connection, Exchange]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            first = await pool.request("GET", b"/1", [], None)
            await asyncio.sleep(0.05)  # the body is in the client's buffer, unread
            pool.release(first)
            second = await exchange(pool, "GET", b"/2")
        return upstream, first, second

    upstream, first, second = asyncio.run(main())
    assert first.closed
    assert second.connection is not first
    assert second.body == b"body"
    assert upstream.lines() == [(0, b"GET /1 HTTP/1.1"), (1, b"GET /2 HTTP/1.1")]


def test_large_response_body_read_slowly_arrives_exactly_and_pauses_reading() -> None:
    size = 2 * 1024 * 1024
    content = bytes(i * 7 % 251 for i in range(size))

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (size, content))

    async def main() -> tuple[RawUpstream, bytes, bool, bool, Exchange]:
        async with RawUpstream(handler) as upstream, open_pool(upstream) as pool:
            connection = await pool.request("GET", b"/big", [], None)
            transport = connection.transport
            assert transport is not None
            await asyncio.sleep(0.1)  # the upstream sends as fast as it can; nobody reads
            reading_while_unread = transport.is_reading()
            chunks: list[bytes] = []
            try:
                async for chunk in connection.body():
                    chunks.append(chunk)
                    await asyncio.sleep(0.002)
            finally:
                pool.release(connection)
            reading_after = transport.is_reading()
            again = await exchange(pool, "GET", b"/big")
        return upstream, b"".join(chunks), reading_while_unread, reading_after, again

    upstream, body, reading_while_unread, reading_after, again = asyncio.run(main())
    assert not reading_while_unread  # paused past the high-water mark, not buffering 2 MiB
    assert reading_after
    assert body == content
    assert again.body == content
    assert upstream.connections == 1


# TLS to the upstream -------------------------------------------------------------------
def test_https_upstream_is_verified_and_spoken_to_over_tls(tmp_path: Path) -> None:
    """An https upstream: the certificate is checked against the given CAs (RFC 9110 §4.3.4:
    the server's identity for the URI's host), then requests and keep-alive work as over
    plain TCP."""
    files = make_tls_files(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(files.cert, files.key)

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(ok(b"secret"))

    async def main() -> tuple[RawUpstream, list[Exchange]]:
        async with (
            RawUpstream(handler, tls=served) as upstream,
            open_pool(upstream, trust=files.context()) as pool,
        ):
            results = [await exchange(pool), await exchange(pool)]
        return upstream, results

    upstream, results = asyncio.run(main())
    assert [r.body for r in results] == [b"secret", b"secret"]
    assert upstream.connections == 1


def test_https_upstream_with_an_untrusted_certificate_is_an_upstream_error(
    tmp_path: Path,
) -> None:
    files = make_tls_files(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(files.cert, files.key)

    async def handler(peer: Peer) -> None:
        await peer.until_client_closes()

    async def main() -> UpstreamError:
        async with RawUpstream(handler, tls=served) as upstream, open_pool(upstream) as pool:
            with pytest.raises(UpstreamError) as caught:  # the system CAs do not know ours
                await pool.request("GET", b"/", [], None)
        return caught.value

    error = asyncio.run(main())
    assert not isinstance(error, UpstreamTimeout)
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)
