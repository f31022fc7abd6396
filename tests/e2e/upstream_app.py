"""A tiny upstream app for the gateway tests, and a way to serve any ASGI app on a free
port with a real uvicorn in a thread."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.conftest import free_port


async def echo(request: Request) -> Response:
    """What the upstream saw: method, path as sent, query and every header."""
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]
            ],
            "body_length": len(body),
        },
        headers={"Connection": "x-secret-hop", "X-Secret-Hop": "1", "Keep-Alive": "timeout=5"},
    )


async def upload(request: Request) -> Response:
    digest, size = hashlib.sha256(), 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"size": size, "sha256": digest.hexdigest()})


async def download(request: Request) -> Response:
    size = int(request.query_params.get("size", "0"))

    async def chunks() -> Any:
        sent = 0
        while sent < size:
            piece = min(65536, size - sent)
            yield bytes([sent % 251]) * piece
            sent += piece

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def hang(request: Request) -> Response:
    await asyncio.sleep(30)
    return Response("late")


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text("echo:" + message["text"])
            elif message.get("bytes") is not None:
                await websocket.send_bytes(message["bytes"][::-1])
    except Exception:
        return


async def ws_deny(websocket: WebSocket) -> None:
    """Refuses the handshake with an HTTP answer of its own (ASGI websocket.http.response)."""
    denial = JSONResponse(
        {"error": "slow_down"}, status_code=429, headers={"Retry-After": "7", "Connection": "x"}
    )
    await websocket.send_denial_response(denial)


def upstream_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/upload", upload, methods=["POST", "PUT"]),
            Route("/download", download),
            Route("/hang", hang),
            WebSocketRoute("/ws", ws_echo),
            WebSocketRoute("/ws-deny", ws_deny),
            Route("/{path:path}", echo, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
        ]
    )


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="critical",
        lifespan="on",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())

    thread = threading.Thread(target=run, name=f"asgi-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start
