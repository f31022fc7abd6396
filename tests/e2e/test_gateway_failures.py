"""How the gateway answers when the upstream fails: a WebSocket handshake the upstream
cannot take or refuses, and a response body cut off mid-stream."""

import asyncio
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from ostiary.gateway import Gateway, load_config
from tests.conftest import free_port
from tests.e2e.processes import OSTIARY, ServerProcess, clean_env
from tests.e2e.upstream_app import serving, upstream_app

# Public rules only: no identity provider is involved, so none is running.
RULES = ["GET /ws public", "GET /ws-deny public", "GET /cut/* public", "GET /health public"]
NO_ISSUER = "http://127.0.0.1:9"


def public_gateway(upstream: str, **overrides: Any) -> Gateway:
    values: dict[str, Any] = {"issuer": NO_ISSUER, "upstream": upstream, "rules": RULES}
    return Gateway(load_config({**values, **overrides}))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(upstream_app()) as url:
        yield url


# -- RFC 6455 §4.1: a failed upstream handshake is answered like a failed request -----------


def test_rfc6455_upstream_down_answers_the_handshake_with_502() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with serving(public_gateway(down)) as url, pytest.raises(InvalidStatus) as failed:
        ws_connect(url.replace("http", "ws") + "/ws").close()
    response = failed.value.response
    assert response.status_code == 502
    assert b'"error": "bad_gateway"' in response.body
    assert b"127.0.0.1" not in response.body


def test_rfc6455_upstream_refusal_status_is_passed_through(upstream: str) -> None:
    with serving(public_gateway(upstream)) as url:
        target = url.replace("http", "ws") + "/ws-deny"
        with pytest.raises(InvalidStatus) as refused, ws_connect(target):
            pass
        # The handshake that the upstream accepts still works through the same gateway.
        with ws_connect(url.replace("http", "ws") + "/ws") as ws:
            ws.send("still fine")
            assert ws.recv(timeout=10) == "echo:still fine"
    response = refused.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == b'{"error":"slow_down"}'
    # RFC 9110 §7.6.1: the upstream's hop-by-hop fields stay behind.
    assert "x" not in response.headers.get("Connection", "").split(",")


def test_rfc6455_upstream_silent_during_the_handshake_is_504() -> None:
    """An upstream that accepts the connection but never answers the upgrade."""
    with silent_upstream() as upstream:
        gateway = public_gateway(upstream, connect_timeout=0.5)
        with serving(gateway) as url, pytest.raises(InvalidStatus) as failed:
            ws_connect(url.replace("http", "ws") + "/ws", open_timeout=10).close()
    assert failed.value.response.status_code == 504
    assert b'"error": "upstream_timeout"' in failed.value.response.body


@contextmanager
def silent_upstream() -> Iterator[str]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


# -- RFC 9112 §8: an upstream body cut short is never passed on as complete -------------------


@contextmanager
def truncating_upstream() -> Iterator[str]:
    """A raw HTTP/1.1 server that sends the head and part of the body, then hangs up:
    /cut/length declares 100000 bytes, /cut/chunked leaves the last chunk out."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ", 2)[1]
        if target == b"/health":
            framing = b"Content-Length: 2\r\n\r\nok"
        elif target == b"/cut/chunked":
            framing = b"Transfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"a" * 1024 + b"\r\n"
        else:
            framing = b"Content-Length: 100000\r\n\r\n" + b"b" * 1024
        # Connection: close, so the gateway does not reuse a connection this server drops.
        status = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        writer.write(status + framing)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()

    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    port = free_port()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(
        target=lambda: loop.run_until_complete(main()), name="truncating", daemon=True
    )
    thread.start()
    assert started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_rfc9112_upstream_dropping_mid_body_aborts_the_client_response(
    framing: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.gateway")
    with truncating_upstream() as upstream, serving(public_gateway(upstream)) as url:
        received = bytearray()
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.stream("GET", f"{url}/cut/{framing}", timeout=10) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += chunk
        assert 0 < len(received) < 100000
        # The gateway still answers on a fresh connection.
        assert httpx.get(f"{url}/health", timeout=10).text == "ok"
    ours = [r for r in caplog.records if r.name == "ostiary.gateway"]
    assert [r.levelno for r in ours] == [logging.WARNING], ours
    assert ours[0].getMessage() == (
        f"upstream failed mid-response: GET /cut/{framing} (IncompleteResponse)"
    )
    assert all(record.exc_info is None for record in caplog.records)
    assert "Traceback" not in caplog.text


def test_rfc9112_mid_body_failure_is_one_warning_in_the_operators_log(tmp_path: Path) -> None:
    """`ostiary gateway` as run by operators: its stderr has the one warning and neither a
    traceback nor the ASGI server's "without completing response" error."""
    port = free_port()
    with truncating_upstream() as upstream:
        proc = subprocess.Popen(
            [str(OSTIARY), "gateway", "--port", str(port), "--issuer", NO_ISSUER,
             "--upstream", upstream, "--rule", "GET /cut/* public", "--rule", "GET /health public"],
            env=clean_env(), cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        process = ServerProcess(proc, "")
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None and time.monotonic() < deadline
                try:
                    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).text == "ok"
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(f"http://127.0.0.1:{port}/cut/length", timeout=10)
        finally:
            process.stop()
    log = process.stderr
    assert log.count("upstream failed mid-response: GET /cut/length (IncompleteResponse)") == 1
    assert "Traceback" not in log and "without completing response" not in log
    assert "ERROR" not in log
