"""WebSocket pass-through (RFC 6455): the handshake is checked like any request, then
messages are relayed both ways until either side closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ostiary.gateway.headers import Headers, upstream_response_headers
from ostiary.gateway.responses import Message, Receive, Scope, Send, send_bytes, send_error

log = logging.getLogger("ostiary.gateway")
# websockets builds its own handshake; the client's copies of these must not be relayed.
_HANDSHAKE = {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions"}
_HANDSHAKE |= {b"sec-websocket-protocol", b"content-length"}
# Framing of the upstream's refusal; ours is recomputed for the body we pass on.
_FRAMING = {b"content-length", b"content-type", b"transfer-encoding", b"cache-control"}
MAX_REFUSAL_BODY = 64 * 1024


async def refuse(send: Send, code: int = 1008) -> None:
    """Closing before accept makes the server answer the handshake with 403."""
    await send({"type": "websocket.close", "code": code})


def refusal_channel(scope: Scope, send: Send) -> Send:
    """A Send taking HTTP response messages for a refused handshake: passed on as the
    ASGI "websocket.http.response" extension's messages when the server has it (so the
    client sees the real 401/403/404 and challenge), otherwise a close before accept."""
    if "websocket.http.response" in (scope.get("extensions") or {}):

        async def as_response(message: Message) -> None:
            await send({**message, "type": "websocket." + message["type"]})

        return as_response

    async def as_close(message: Message) -> None:
        if message["type"] == "http.response.start":
            await refuse(send)

    return as_close


async def relay(
    scope: Scope,
    receive: Receive,
    send: Send,
    reply: Send,
    url: str,
    headers: Headers,
    open_timeout: float,
) -> None:
    """``reply`` answers a failed upstream handshake (see ``refusal_channel``)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    forwarded = [(n.decode(), v.decode("latin-1")) for n, v in headers if n not in _HANDSHAKE]
    try:
        upstream = await connect(
            url,
            additional_headers=forwarded,
            subprotocols=scope.get("subprotocols") or None,
            open_timeout=open_timeout,
            user_agent_header=None,
            compression=None,
            proxy=None,
        )
    except InvalidStatus as exc:
        # The upstream answered the handshake with a status of its own: pass it on.
        log.info("upstream refused websocket: %s (%d)", scope.get("path"), exc.response.status_code)
        await _pass_refusal(reply, exc)
        return
    except TimeoutError:
        log.warning("upstream websocket timed out: %s", scope.get("path"))
        await send_error(reply, 504, "upstream_timeout", "the upstream did not answer in time")
        return
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        log.warning("upstream websocket failed: %s (%s)", scope.get("path"), type(exc).__name__)
        await send_error(reply, 502, "bad_gateway", "the upstream could not be reached")
        return
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        inbound = asyncio.create_task(_client_to_upstream(receive, upstream))
        outbound = asyncio.create_task(_upstream_to_client(upstream, send))
        _, pending = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task


async def _pass_refusal(reply: Send, refusal: InvalidStatus) -> None:
    response = refusal.response
    raw = [(k.lower().encode(), v.encode("latin-1")) for k, v in response.headers.raw_items()]
    kept = [(k, v) for k, v in upstream_response_headers(raw) if k not in _FRAMING]
    content_type = response.headers.get("content-type", "text/plain").encode("latin-1")
    # websockets may hold the body in a bytearray; an ASGI body is bytes.
    body = bytes((response.body or b"")[:MAX_REFUSAL_BODY])
    await send_bytes(reply, response.status_code, body, content_type, kept)


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            code = message.get("code", 1000)
            # RFC 6455 §7.4.1: 1005/1006 are never sent on the wire.
            await upstream.close(code if code not in (1005, 1006) else 1000)
            return
        if message.get("text") is not None:
            await upstream.send(message["text"])
        elif message.get("bytes") is not None:
            await upstream.send(message["bytes"])


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        pass
    code = upstream.close_code if upstream.close_code not in (None, 1005, 1006) else 1000
    with contextlib.suppress(RuntimeError, OSError):
        await send({"type": "websocket.close", "code": code, "reason": upstream.close_reason or ""})
