"""Small raw-ASGI responses for the gateway's own answers (errors, redirects)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
HeaderList = list[tuple[bytes, bytes]]


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await send_bytes(send, status, json.dumps(body).encode(), b"application/json", headers)


async def send_error(
    send: Send,
    status: int,
    error: str,
    description: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """An error in the RFC 6749 §5.2 shape; never carries upstream details."""
    await send_json(send, status, {"error": error, "error_description": description}, headers)


async def redirect(send: Send, location: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send_bytes(send, 302, b"", b"text/plain", [(b"location", location.encode()), *headers])
