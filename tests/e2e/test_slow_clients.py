"""Slow senders: header and body deadlines on a real server (RFC 9110 §15.5.9, 408).

A client that trickles its request a byte at a time must not hold a connection past the
deadlines; a client that is merely a little slow, or idle between kept-alive requests,
is served as before.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import LiveServer, free_port, server_settings, start_server

HEADER_TIMEOUT = 0.6
BODY_TIMEOUT = 0.6
KEEP_ALIVE = 5.0
Connect = Callable[[LiveServer], socket.socket]


@pytest.fixture(scope="module")
def strict(database_url: str) -> Iterator[LiveServer]:
    port = free_port()
    settings = server_settings(
        database_url,
        port,
        http={
            "header_timeout": HEADER_TIMEOUT,
            "body_timeout": BODY_TIMEOUT,
            "keep_alive_timeout": KEEP_ALIVE,
        },
    )
    live, stop = start_server(settings, port)
    yield live
    stop()


@pytest.fixture
def connect() -> Iterator[Callable[[LiveServer], socket.socket]]:
    """Open raw connections to a server; all closed at the end of the test."""
    opened: list[socket.socket] = []

    def open_to(live: LiveServer) -> socket.socket:
        port = int(live.base_url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        opened.append(sock)
        return sock

    yield open_to
    for sock in opened:
        sock.close()


def _trickle(sock: socket.socket, pieces: list[bytes], gap: float, until: float) -> bool:
    """Send ``pieces`` with ``gap`` seconds between them for up to ``until`` seconds;
    False as soon as the server has closed the connection."""
    deadline = time.monotonic() + until
    for piece in pieces:
        if time.monotonic() > deadline:
            return True
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return False
        time.sleep(gap)
    return True


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, the connection left open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_headers_trickled_past_the_deadline_get_408_and_close(
    strict: LiveServer, connect: Connect
) -> None:
    sock = connect(strict)
    started = time.monotonic()
    pieces = [b"GET /health HTTP/1.1\r\nHost: x\r\n"] + [b"X-Slow: y\r\n"] * 40
    _trickle(sock, pieces, gap=0.1, until=4)
    answer = _read_all(sock)
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in answer.lower()
    assert elapsed < HEADER_TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    strict: LiveServer, connect: Connect
) -> None:
    sock = connect(strict)
    started = time.monotonic()
    assert _read_all(sock) == b""
    assert HEADER_TIMEOUT - 0.1 < time.monotonic() - started < HEADER_TIMEOUT + 2


def test_body_trickled_past_the_deadline_gets_408_and_close(
    strict: LiveServer, connect: Connect
) -> None:
    sock = connect(strict)
    head = (
        b"POST /token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    )
    started = time.monotonic()
    _trickle(sock, [head] + [b"a"] * 40, gap=0.1, until=4)
    answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < BODY_TIMEOUT + 2


def test_a_little_slow_but_in_time_is_served(strict: LiveServer, connect: Connect) -> None:
    sock = connect(strict)
    body = b"grant_type=client_credentials"
    head = (
        b"POST /token HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    assert _trickle(sock, [head[:20], head[20:], body[:5], body[5:]], gap=0.1, until=4)
    # Unauthenticated: the token endpoint's own answer, not a timeout.
    assert _read_response(sock).startswith(b"HTTP/1.1 401 ")


def test_idle_between_kept_alive_requests_is_not_a_header_timeout(
    strict: LiveServer, connect: Connect
) -> None:
    sock = connect(strict)
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    sock.sendall(request)
    assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
    # Longer than the header deadline, shorter than keep-alive: the connection stays.
    time.sleep(HEADER_TIMEOUT + 0.4)
    sock.sendall(request)
    assert _read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_a_later_request_on_a_kept_alive_connection_has_its_own_deadline(
    strict: LiveServer, connect: Connect
) -> None:
    sock = connect(strict)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    _trickle(sock, [b"GET /health HTTP/1.1\r\n"] + [b"X-Slow: y\r\n"] * 40, gap=0.1, until=4)
    answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_a_head_larger_than_the_bound_gets_431_and_close(
    strict: LiveServer, connect: Connect
) -> None:
    """RFC 6585 §5: llhttp bounds nothing, so the protocol counts the head's bytes."""
    sock = connect(strict)
    limit = strict.settings.http.max_header_size
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    _trickle(sock, [b"GET /health HTTP/1.1\r\nHost: x\r\n"] + [filler] * (limit // 1000 + 5), 0, 4)
    answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


def test_a_large_head_within_the_bound_is_served(strict: LiveServer, connect: Connect) -> None:
    sock = connect(strict)
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + filler * 30 + b"\r\n")
    assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
