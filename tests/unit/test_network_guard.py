"""The suite's network guard: nothing beyond loopback is reachable from a test, loopback
and Unix sockets still are."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.network_guard import OutboundNetworkBlocked, is_local

# RFC 5737 TEST-NET-3: documentation space, never routed.
OUTSIDE = ("203.0.113.1", 443)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def test_connect_beyond_loopback_is_refused_naming_the_destination() -> None:
    with (
        socket.socket() as sock,
        pytest.raises(OutboundNetworkBlocked, match=r"203\.0\.113\.1:443"),
    ):
        sock.connect(OUTSIDE)


def test_connect_ex_raises_instead_of_returning_an_errno() -> None:
    with socket.socket() as sock, pytest.raises(OutboundNetworkBlocked):
        sock.connect_ex(OUTSIDE)


def test_create_connection_and_ipv6_are_refused() -> None:
    blocked = pytest.raises(OutboundNetworkBlocked, match=r"\[2001:db8::1\]:80")
    with socket.socket(socket.AF_INET6) as sock, blocked:
        sock.connect(("2001:db8::1", 80))
    with pytest.raises(OutboundNetworkBlocked, match=r"203\.0\.113\.1:443"):
        socket.create_connection(OUTSIDE, timeout=1)


def test_udp_datagrams_beyond_loopback_are_refused() -> None:
    with socket.socket(type=socket.SOCK_DGRAM) as sock, pytest.raises(OutboundNetworkBlocked):
        sock.sendto(b"x", ("203.0.113.1", 53))


def test_asyncio_connection_is_refused() -> None:
    async def connect() -> None:
        await asyncio.open_connection(*OUTSIDE)

    with pytest.raises(OSError, match=r"outbound network access blocked.*203\.0\.113\.1:443"):
        asyncio.run(connect())


def test_loopback_still_connects(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((host, port), timeout=5) as sock:
            peer, _ = listener.accept()
            sock.sendall(b"ping")
            assert peer.recv(4) == b"ping"
            peer.close()


def test_asyncio_loopback_still_connects(listener: socket.socket) -> None:
    async def round_trip() -> bytes:
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        writer.write(b"pong")
        await writer.drain()
        peer, _ = await asyncio.get_running_loop().sock_accept(listener)
        with peer:
            data = peer.recv(4)
        writer.close()
        await writer.wait_closed()
        return data

    listener.setblocking(False)
    assert asyncio.run(round_trip()) == b"pong"


def test_unix_sockets_still_connect(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)
        peer, _ = server.accept()
        with peer:
            client.sendall(b"unix")
            assert peer.recv(4) == b"unix"


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("db.localhost", True),
        ("0.0.0.0", True),
        ("10.0.0.1", False),
        ("::ffff:203.0.113.1", False),
        ("2001:db8::1", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_which_hosts_are_local(host: str, local: bool) -> None:
    assert is_local(host) is local
