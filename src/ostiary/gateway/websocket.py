"""WebSocket pass-through (RFC 6455): the handshake is checked like any request, then
messages are relayed both ways until either side closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ostiary.gateway.headers import Headers
from ostiary.gateway.responses import Message, Receive, Scope, Send

log = logging.getLogger("ostiary.gateway")
# websockets builds its own handshake; the client's copies of these must not be relayed.
_HANDSHAKE = {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions"}
_HANDSHAKE |= {b"sec-websocket-protocol", b"content-length"}


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
    scope: Scope, receive: Receive, send: Send, url: str, headers: Headers, open_timeout: float
) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    forwarded = [(n.decode(), v.decode("latin-1")) for n, v in headers if n not in _HANDSHAKE]
    try:
        upstream = await connect(
            url,
            additional_headers=forwarded,
            subprotocols=scope.get("subprotocols") or None,  # type: ignore[arg-type]
            open_timeout=open_timeout,
            user_agent_header=None,
            compression=None,
            proxy=None,
        )
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
        log.warning("upstream websocket failed: %s (%s)", scope.get("path"), type(exc).__name__)
        await refuse(send, 1011)
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
