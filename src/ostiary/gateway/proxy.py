"""Forward one HTTP exchange to the upstream, streaming both bodies (RFC 9110 §7.6)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar

import httpx

from ostiary.gateway.headers import Headers, upstream_response_headers
from ostiary.gateway.responses import HeaderList, Receive, Send, send_error

log = logging.getLogger("ostiary.gateway")
_UNFINISHED = "ASGI callable returned without completing response."
_aborted: ContextVar[bool] = ContextVar("ostiary_gateway_aborted", default=False)


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
        timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self._extensions = {"timeout": timeout.as_dict()}
        # The transport, not an httpx.AsyncClient: a client would keep every upstream
        # Set-Cookie in one shared jar (all users' cookies, never freed) and add auth,
        # redirect and event-hook layers a proxy does not want. trust_env=False: no proxy
        # or netrc from the environment between us and the upstream.
        self.http = httpx.AsyncHTTPTransport(
            trust_env=False,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=128),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

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
        url = httpx.URL(self.base_url + path, query=query) if query else self.base_url + path
        request = httpx.Request(
            method,
            url,
            headers=headers,
            content=self._body(receive) if has_body else None,
            extensions=self._extensions,
        )
        try:
            response = await self.http.handle_async_request(request)
        except BodyTooLarge:
            await _refuse_body(send, True)
            return
        except ClientGone:
            return
        except httpx.TimeoutException as exc:
            log.warning("upstream timed out: %s %s (%s)", method, path, type(exc).__name__)
            await send_error(send, 504, "upstream_timeout", "the upstream did not answer in time")
            return
        except httpx.HTTPError as exc:
            log.warning("upstream unreachable: %s %s (%s)", method, path, type(exc).__name__)
            await send_error(send, 502, "bad_gateway", "the upstream could not be reached")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        *upstream_response_headers(response.headers.raw),
                        *extra_response_headers,
                    ],
                }
            )
            async for chunk in response.stream:  # type: ignore[union-attr]
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:
            # The upstream failed mid-body. Returning without the final body message makes
            # the ASGI server drop the connection, so the client sees a truncated response
            # (short Content-Length or no last chunk), never a complete-looking one.
            log.warning("upstream failed mid-response: %s %s (%s)", method, path, _name(exc))
            _aborted.set(True)
            return
        finally:
            await response.aclose()
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
