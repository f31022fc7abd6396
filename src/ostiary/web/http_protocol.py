"""uvicorn's HTTP/1.1 protocol with deadlines for slow senders and a bound on the head.

uvicorn closes an idle kept-alive connection, but a client that sends its request
headers or body a byte at a time holds the connection, and its slot in the server, for
as long as it likes (slowloris). Here the headers must be complete ``header_timeout``
seconds after the connection opens (or after the first byte of a later request on a
reused connection), and the body ``body_timeout`` seconds after the headers; past a
deadline the client gets 408 and the connection is closed (RFC 9110 §15.5.9). The
deadlines are totals, not idle gaps, so trickling bytes does not extend them. One sweep
per event loop checks them, ten times per the shorter deadline and at most once a second,
so a connection is closed at most that much after its deadline.

A request whose body arrives with its headers (most requests) never starts the body
deadline: it starts only when a read ends with the body still incomplete. The request
line and headers together may not exceed ``max_header_size`` bytes (431, RFC 6585 §5).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ostiary.observability.request_id import PEER
from ostiary.settings import HttpSettings

log = logging.getLogger("ostiary.web")


def _closing_answer(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text
    )


_TOO_LARGE_RESPONSE = _closing_answer(
    b"431 Request Header Fields Too Large", b"request head too large"
)
_TIMEOUT_RESPONSE = _closing_answer(b"408 Request Timeout", b"request not sent in time")


class _Sweeper:
    """One per event loop: every ``interval`` seconds, expires the connections of that loop
    whose deadline has passed. A deadline is then a float written per request, not a timer
    armed and cancelled per request (the cheapest paths answer in tens of microseconds)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.live: set[TimedHttpToolsProtocol] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, protocol: TimedHttpToolsProtocol) -> None:
        self.live.add(protocol)
        self.interval = min(self.interval, protocol.sweep_interval())
        if self._handle is None:
            self._handle = self.loop.call_later(self.interval, self._sweep)

    def discard(self, protocol: TimedHttpToolsProtocol) -> None:
        self.live.discard(protocol)

    def _sweep(self) -> None:
        now = self.loop.time()
        for protocol in [p for p in self.live if 0.0 < p.deadline <= now]:
            protocol.expire()
        if self.live:
            self._handle = self.loop.call_later(self.interval, self._sweep)
        else:
            # Quiet when no connection is open; the next connection makes a new sweeper
            # (and a finished loop is not kept alive by this module).
            self._handle = None
            if _sweepers.get(self.loop) is self:
                del _sweepers[self.loop]


_sweepers: dict[asyncio.AbstractEventLoop, _Sweeper] = {}


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a header deadline and a body deadline."""

    header_timeout: float = HttpSettings().header_timeout
    body_timeout: float = HttpSettings().body_timeout
    max_header_size: int = HttpSettings().max_header_size

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # When this connection expires, on the loop's clock (0: no deadline running).
        self.deadline = 0.0
        # Between a request's first byte and the end of its headers.
        self._in_headers = False
        # Bytes read since the request began, while its head is incomplete.
        self._head_bytes = 0

    @classmethod
    def sweep_interval(cls) -> float:
        """Deadlines are checked this often: a tenth of the shorter, at most once a second."""
        return min(1.0, cls.header_timeout / 10, cls.body_timeout / 10)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sweeper = _sweepers.get(self.loop)
        if sweeper is None:
            sweeper = _sweepers[self.loop] = _Sweeper(self.loop, self.sweep_interval())
        sweeper.add(self)
        self.deadline = self.loop.time() + self.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline = 0.0
        sweeper = _sweepers.get(self.loop)
        if sweeper is not None:
            sweeper.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers:
            # llhttp sets no bound on the request line and headers: without one a client
            # could send an endless head within the deadline (RFC 6585 §5).
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_size and not self.transport.is_closing():
                self.deadline = 0.0
                self.transport.write(_TOO_LARGE_RESPONSE)
                self.transport.close()
            return
        cycle = self.cycle
        if (
            self.deadline == 0.0
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
            and not self.transport.is_closing()
        ):
            self.deadline = self.loop.time() + self.body_timeout

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The socket's peer, which uvicorn's proxy-header handling leaves as it is.
        self.scope[PEER] = self.client  # type: ignore[literal-required]
        self._in_headers = True
        self._head_bytes = 0
        # A new connection's deadline runs from its start; a reused one's from this byte.
        if self.deadline == 0.0:
            self.deadline = self.loop.time() + self.header_timeout

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self.deadline = 0.0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.deadline = 0.0
        super().on_message_complete()

    def expire(self) -> None:
        """The deadline has passed: 408 for a request begun and not answered, then close."""
        self.deadline = 0.0
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        waiting_for_body = not self._in_headers and cycle is not None and cycle.more_body
        # A connection that never sent a byte is just closed.
        if self._in_headers or (
            waiting_for_body and cycle is not None and not cycle.response_started
        ):
            transport.write(_TIMEOUT_RESPONSE)
        if cycle is not None:
            cycle.keep_alive = False
        log.debug(
            "closed a connection from %s: request %s not received in time",
            self.client[0] if self.client else "?",
            "body" if waiting_for_body else "headers",
        )
        transport.close()


def configure(settings: HttpSettings) -> None:
    """Set this process's deadlines (``ostiary serve``'s workers, from their settings)."""
    TimedHttpToolsProtocol.header_timeout = settings.header_timeout
    TimedHttpToolsProtocol.body_timeout = settings.body_timeout
    TimedHttpToolsProtocol.max_header_size = settings.max_header_size


def protocol_class(settings: HttpSettings) -> type[TimedHttpToolsProtocol]:
    """A protocol class with these deadlines, for a server run in this process."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {
            "header_timeout": settings.header_timeout,
            "body_timeout": settings.body_timeout,
            "max_header_size": settings.max_header_size,
        },
    )


# uvicorn's ``http=`` import string for this protocol.
IMPORT_STRING = f"{__name__}:TimedHttpToolsProtocol"
