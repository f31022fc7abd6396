"""Outbound network access is refused inside the test processes, loopback and Unix sockets
excepted: a test that reaches the internet would pass or fail with the weather.

The guard is an audit hook (PEP 578) on ``socket.connect`` (also raised by ``connect_ex``),
``socket.sendto`` and ``socket.sendmsg``: CPython raises these events inside the socket
module for every socket, so plain sockets, ``socket.create_connection``, asyncio's
``create_connection`` and everything built on them (httpx, asyncpg, redis) pass through
it. Name lookups are allowed; the connection that follows is what fails.

Processes the tests start (``ostiary serve``, the CLI, ``pip install`` into a fresh venv)
are not guarded: pip legitimately reaches the package index, and the machines the suite
runs on have no route out beyond it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from typing import Any

_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_INET = (socket.AF_INET, socket.AF_INET6)
_LOCAL_NAMES = ("localhost", "localhost.")


class OutboundNetworkBlocked(OSError):
    """A test tried to reach a host other than this one. An ``OSError`` (ENETUNREACH),
    so code under test sees what it would on a machine without a route out."""

    def __init__(self, destination: str) -> None:
        super().__init__(
            errno.ENETUNREACH,
            f"outbound network access blocked in tests: {destination} is not loopback "
            "(tests/network_guard.py allows only 127.0.0.0/8, ::1, localhost and Unix sockets)",
        )
        self.destination = destination


def is_local(host: str) -> bool:
    """Whether ``host`` (an address literal or a name) stays on this machine."""
    name = host.lower()
    if name in _LOCAL_NAMES or name.endswith((".localhost", ".localhost.")):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        # Another name: refused whatever it resolves to (socket.connect has looked it up
        # before the audit event; asyncio and httpx connect to the looked-up address).
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # Linux routes a connection to the unspecified address (0.0.0.0, ::) to loopback.
    return address.is_loopback or address.is_unspecified


def _destination(args: tuple[Any, ...]) -> tuple[str, str] | None:
    """(host, "host:port") of an inet socket operation's address, None for other families."""
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in _INET:
        return None
    if not isinstance(address, tuple) or not address:
        return None
    host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
    port = address[1] if len(address) > 1 else "?"
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, shown


class _Guard:
    enabled = False
    installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _Guard.enabled or event not in _EVENTS:
        return
    # Each event's arguments are (socket, address); sendto/sendmsg on a connected socket
    # pass no address (None) and were checked at connect.
    found = _destination(args)
    if found is not None and not is_local(found[0]):
        raise OutboundNetworkBlocked(found[1])


def enable() -> None:
    """Refuse outbound connections from now on in this process. An audit hook cannot be
    removed once added, so it is added once and switched by ``enable``/``disable``."""
    if not _Guard.installed:
        sys.addaudithook(_audit)
        _Guard.installed = True
    _Guard.enabled = True


def disable() -> None:
    _Guard.enabled = False
