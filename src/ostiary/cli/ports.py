"""Is the address ``serve`` is about to listen on free?"""

from __future__ import annotations

import errno
import socket

from ostiary.cli.output import CommandError


def ensure_port_free(host: str, port: int) -> None:
    """Bind and release the address the way uvicorn will bind it, so a busy port is a
    one-line error before the database is migrated or the demo seeded, not after."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"cannot listen on {host}:{port}: the port is in use (is Ostiary already "
                    "running? --port chooses another)"
                ) from None
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
