"""The gateway's HTTP/1.1 client to its upstream (RFC 9112): a keep-alive pool, both bodies
streamed, responses parsed by llhttp (httptools, the parser uvicorn serves with).

A reverse proxy needs one thing of a client: move a request and its answer with as little
work as the two socket writes allow. httpx's general-purpose pool cost ~0.8 ms of CPU per
proxied request here (every request scanned every pooled connection; bench/README.md,
gateway section); this pool takes the most recently used idle connection (LIFO) in O(1).
Framing, timeouts and reuse follow RFC 9112: §6.3 (message body length, including a body
that ends with the connection), §9.3 (persistence), §9.3.1 (a request sent on a reused
connection that the server had closed is retried once when it has no content).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

Headers = list[tuple[bytes, bytes]]

HIGH_WATER = 256 * 1024  # stop reading the upstream past this much unsent response body
LOW_WATER = 64 * 1024  # and read again below this
IDLE_SECONDS = 4.0  # under the shortest common server keep-alive (uvicorn: 5 s)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})  # RFC 9110 §9.2.2


class UpstreamError(Exception):
    """The upstream could not be reached, broke the protocol, or closed too early."""


class UpstreamTimeout(UpstreamError):
    """No connection, or no byte from the upstream, within the configured time."""


class IncompleteResponse(UpstreamError):
    """The connection ended (or its framing broke) before the response did."""


def _expire(waiter: asyncio.Future[None], what: str) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout(what))


def _delimited_by_close(headers: Headers) -> bool:
    """RFC 9112 §6.3: a response body runs to the end of the connection when chunked is
    not its last transfer coding (4) or when it has neither that nor a length (8)."""
    codings = [value for name, value in headers if name.lower() == b"transfer-encoding"]
    if codings:
        return b",".join(codings).rsplit(b",", 1)[-1].strip().lower() != b"chunked"
    return not any(name.lower() == b"content-length" for name, _ in headers)


class Connection(asyncio.Protocol):
    """One connection to the upstream, carrying one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self.loop = loop
        self.read_timeout = read_timeout  # seconds between bytes, either way
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._writable: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reset(head_request=False)

    def _reset(self, *, head_request: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.head_request = head_request
        self.status = 0
        self.headers: Headers = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.received = False  # any byte of this exchange's answer
        self.abandoned = False  # the request went out unfinished: never reuse
        self.error: UpstreamError | None = None
        self._interim = False
        self._until_close = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False

    # asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(IncompleteResponse("the upstream switched protocols unasked"))
        except httptools.HttpParserError as exc:
            self._fail(IncompleteResponse(f"malformed response: {exc}"))
        else:
            self._wake()  # the read timeout counts from the last byte (interim answers too)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.head_done and self._until_close and not self.complete:
            # RFC 9112 §6.3 (4, 8): without Content-Length, and unless chunked is the last
            # transfer coding, the body ends where the connection does.
            self.complete = True
            self._wake()
        elif not self.complete:
            self._fail(IncompleteResponse("the upstream closed the connection"))
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # httptools callbacks --------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status == 101:  # never asked for: this client sends no Upgrade
            raise httptools.HttpParserUpgrade("101 without an Upgrade request")
        if status < 200:  # RFC 9110 §15.2: interim answers, the final one follows
            self._interim = True
            return
        self.status = status
        self.head_done = True
        if self.head_request:
            # RFC 9110 §9.3.2: no content, whatever the fields say; the parser does not know
            # the method, so this connection is not reused.
            self.complete = True
        elif status not in (204, 304):
            self._until_close = _delimited_by_close(self.headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.head_request:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self.keep_alive = not self.head_request and self.parser.should_keep_alive()
        self._wake()

    # exchange -------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        if self.transport is not None:
            self.transport.close()
        self._wake()

    async def _wait(self, what: str) -> None:
        waiter = self._waiter = self.loop.create_future()
        timer = self.loop.call_later(self.read_timeout, _expire, waiter, what)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def send(self, data: bytes) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise IncompleteResponse("the upstream closed the connection")
        self.transport.write(data)

    async def send_body(self, body: AsyncIterator[bytes], *, chunked: bool) -> None:
        """The request's content, as it arrives (RFC 9112 §7.1 chunks when no length).
        An answer that comes before the content ends (an early 413 or 401) stops the
        sending (RFC 9112 §9.6) and is the answer; the connection is then not reused."""
        async for chunk in body:
            if self.head_done:
                self.abandoned = True
                return
            if not chunk:
                continue  # an empty chunk would be the last-chunk marker
            self.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            if self._writable is not None:
                writable = self._writable
                timer = self.loop.call_later(
                    self.read_timeout, _expire, writable, "the upstream stopped reading"
                )
                try:
                    await writable
                finally:
                    timer.cancel()
        if self.head_done:
            self.abandoned = True
        elif chunked:
            self.send(b"0\r\n\r\n")

    async def read_head(self) -> None:
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait("no answer from the upstream")

    async def body(self) -> AsyncIterator[bytes]:
        """The response's content, chunk by chunk; raises if it ends early."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < LOW_WATER and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
            elif self.complete:
                return
            elif self.error is not None:
                raise self.error
            else:
                await self._wait("the upstream stopped sending")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Connections to one origin: at most ``max_connections`` open, up to ``max_idle`` kept
    for reuse (most recently used first), none kept idle past ``IDLE_SECONDS``."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int = 256,
        max_idle: int = 128,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``ssl_context`` for an https upstream: the system's trusted CAs by default."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        https = parts.scheme == "https"
        self.ssl = (ssl_context or ssl.create_default_context()) if https else None
        default = parts.port is None or parts.port == (443 if self.ssl else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = (host if default else f"{host}:{self.port}").encode("idna")
        self.prefix = parts.path.rstrip("/").encode()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        self._open = 0
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()

    async def request(
        self,
        method: str,
        target: bytes,
        headers: Headers,
        body: AsyncIterator[bytes] | None,
    ) -> Connection:
        """Send one request; returns its connection once the response head is in. The
        caller reads ``connection.body(...)`` and then calls ``release`` (always)."""
        chunked = body is not None and not any(name == b"content-length" for name, _ in headers)
        lines = [method.encode("ascii"), b" ", self.prefix, target, b" HTTP/1.1\r\n"]
        if not any(name == b"host" for name, _ in headers):
            lines += [b"host: ", self.authority, b"\r\n"]
        for name, value in headers:
            lines += [name, b": ", value, b"\r\n"]
        if chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        lines.append(b"\r\n")
        head = b"".join(lines)
        for attempt in (1, 2):
            connection, reused = await self._checkout()
            connection._reset(head_request=method == "HEAD")
            try:
                connection.send(head)
            except IncompleteResponse:  # closed before anything was written: any method
                self.release(connection)
                if attempt == 1:
                    continue
                raise
            try:
                if body is not None:
                    await connection.send_body(body, chunked=chunked)
                await connection.read_head()
                return connection
            except IncompleteResponse:
                self.release(connection)
                # RFC 9112 §9.3.1: a reused connection the server closed meanwhile; an
                # idempotent request with no content may go again, on a new connection (a
                # proxy MUST NOT retry others: the upstream may have acted on them).
                retry = reused and body is None and method in IDEMPOTENT
                if attempt == 1 and retry and not connection.received:
                    continue
                raise
            except BaseException:
                self.release(connection)
                raise
        raise AssertionError("unreachable")

    async def _checkout(self) -> tuple[Connection, bool]:
        """The most recently used live idle connection, else a new one; waits (up to the
        connect timeout) while ``max_connections`` are open and busy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while True:
            now = loop.time()
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                    return connection, True
                self._drop(connection)
            if self._open < self.max_connections:
                break
            waiter = loop.create_future()
            self._queue.append(waiter)
            timer = loop.call_later(deadline - now, _expire, waiter, "no free connection")
            try:
                await waiter
            finally:
                timer.cancel()
                if waiter in self._queue:
                    self._queue.remove(waiter)
        self._open += 1
        try:
            connect = loop.create_connection(
                lambda: Connection(loop, self.read_timeout),
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.host if self.ssl else None,
            )
            _, protocol = await asyncio.wait_for(connect, max(0.0, deadline - loop.time()))
        except BaseException as exc:
            self._open -= 1
            self._wake_one()
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                raise UpstreamTimeout("could not connect in time") from exc
            if isinstance(exc, OSError):  # ssl.SSLError is one
                raise UpstreamError(f"could not connect: {type(exc).__name__}") from exc
            raise
        return protocol, False

    def release(self, connection: Connection) -> None:
        """Back to the pool if the exchange ended cleanly and both sides keep the
        connection (RFC 9112 §9.3); closed otherwise. Either way a waiter may go on."""
        if (
            connection.complete
            and connection.keep_alive
            and not connection.abandoned
            and not connection.closed
            and not connection._chunks
            and len(self._idle) < self.max_idle
        ):
            connection.idle_since = connection.loop.time()
            self._idle.append(connection)
            self._wake_one()
        else:
            self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            self._drop(connection)
