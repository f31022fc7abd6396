"""uvicorn's HTTP/1.1 protocol with deadlines for slow senders and a bound on the head.

uvicorn closes an idle kept-alive connection, but a client that sends its request
headers or body a byte at a time holds the connection, and its slot in the server, for
as long as it likes (slowloris). Here the headers must be complete ``header_timeout``
seconds after the connection opens (or after the first byte of a later request on a
reused connection), and the body ``body_timeout`` seconds after the headers; past a
deadline the client gets 408 and the connection is closed (RFC 9110 §15.5.9). The
deadlines are totals, not idle gaps, so trickling bytes does not extend them.

The request line and headers together may not exceed ``max_header_size`` bytes (431,
RFC 6585 §5). A request whose body arrives with its headers (most requests) never arms the body
deadline: it is armed only when a read ends with the body still incomplete.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a header deadline and a body deadline."""

    header_timeout: float = HttpSettings().header_timeout
    body_timeout: float = HttpSettings().body_timeout
    max_header_size: int = HttpSettings().max_header_size

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # Between a request's first byte and the end of its headers.
        self._in_headers = False
        # Bytes read since the request began, while its head is incomplete.
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers:
            # llhttp sets no bound on the request line and headers: without one a client
            # could send an endless head within the deadline (RFC 6585 §5).
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_size and not self.transport.is_closing():
                self._disarm()
                self.transport.write(_TOO_LARGE_RESPONSE)
                self.transport.close()
            return
        cycle = self.cycle
        if (
            self._deadline is None
            and not self._in_headers
            and cycle is not None
            and cycle.more_body
            and not cycle.response_complete
            and not self.transport.is_closing()
        ):
            self._arm(self.body_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._head_bytes = 0
        # A new connection's deadline runs from its start; a reused one's from this byte.
        if self._deadline is None:
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        waiting_for_body = not self._in_headers and cycle is not None and cycle.more_body
        # A request begun and not yet answered gets its 408; a connection that never
        # sent a byte is just closed.
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
