"""Forward one HTTP exchange to the upstream, streaming both bodies (RFC 9110 §7.6)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextvars import ContextVar

from ostiary.gateway.headers import Headers, upstream_response_headers
from ostiary.gateway.responses import HeaderList, Receive, Send, send_error
from ostiary.gateway.upstream_http import UpstreamError, UpstreamPool, UpstreamTimeout

log = logging.getLogger("ostiary.gateway")
_UNFINISHED = "ASGI callable returned without completing response."
_aborted: ContextVar[bool] = ContextVar("ostiary_gateway_aborted", default=False)
# RFC 9112 §3.2: the target has no whitespace or control bytes (the ASGI server's parser
# already refused such a request line; checked again as the bytes go out verbatim).
_SAFE_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+").fullmatch


class AbortedResponseFilter(logging.Filter):
    """Drops the ASGI server's "returned without completing response" error for a response
    the gateway cut short on purpose (it has logged why); any other such error still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_aborted.get() and record.getMessage() == _UNFINISHED)


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


class Upstream:
    """One pooled HTTP client to the upstream; answers 413, 502 and 504 itself."""

    def __init__(
        self,
        base_url: str,
        *,
        max_body_bytes: int,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_body_bytes = max_body_bytes
        # Our own pool, not httpx: it keeps no cookie jar (all users' upstream Set-Cookie
        # in one place), reads no proxy or netrc from the environment, follows nothing,
        # and costs a fraction of the CPU per request (upstream_http.py).
        self.pool = UpstreamPool(
            self.base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=256,
            max_idle=128,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def forward(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: Headers,
        receive: Receive,
        send: Send,
        extra_response_headers: HeaderList,
        *,
        has_body: bool,
    ) -> None:
        length = next((value for name, value in headers if name == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _refuse_body(send, length.isdigit())
            return
        # No "?" when the client sent no query: "/x?" and "/x" may differ to the upstream.
        target = path.encode("latin-1") + b"?" + query if query else path.encode("latin-1")
        if not _SAFE_TARGET(target):
            await send_error(send, 400, "invalid_request", "malformed request target")
            return
        try:
            connection = await self.pool.request(
                method, target, headers, self._body(receive) if has_body else None
            )
        except BodyTooLarge:
            await _refuse_body(send, True)
            return
        except ClientGone:
            return
        except UpstreamTimeout as exc:
            log.warning("upstream timed out: %s %s (%s)", method, path, exc)
            await send_error(send, 504, "upstream_timeout", "the upstream did not answer in time")
            return
        except UpstreamError as exc:
            log.warning("upstream unreachable: %s %s (%s)", method, path, exc)
            await send_error(send, 502, "bad_gateway", "the upstream could not be reached")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": connection.status,
                    "headers": [
                        *upstream_response_headers(connection.headers),
                        *extra_response_headers,
                    ],
                }
            )
            async for chunk in connection.body():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except UpstreamError as exc:
            # The upstream failed mid-body. Returning without the final body message makes
            # the ASGI server drop the connection, so the client sees a truncated response
            # (short Content-Length or no last chunk), never a complete-looking one.
            log.warning("upstream failed mid-response: %s %s (%s)", method, path, _name(exc))
            _aborted.set(True)
            return
        finally:
            self.pool.release(connection)
        await send({"type": "http.response.body", "body": b""})

    async def _body(self, receive: Receive) -> AsyncIterator[bytes]:
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                raise BodyTooLarge()
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


def _name(exc: BaseException) -> str:
    return type(exc).__name__


async def _refuse_body(send: Send, known: bool) -> None:
    if known:
        await send_error(send, 413, "request_too_large", "the request body is too large")
    else:
        await send_error(send, 400, "invalid_request", "malformed Content-Length")
