"""The request id: the one a trusted proxy sent in ``X-Request-ID``, or a new one.

Only a reverse proxy in ``trusted_proxies`` may name the id (a client could otherwise
write what it likes into every log line about it), and only in a conservative shape.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import secrets
from typing import TYPE_CHECKING

# A type only: the gateway imports this module through the HTTP protocol, and its extra
# has no Starlette.
if TYPE_CHECKING:
    from starlette.types import Scope

HEADER = b"x-request-id"
_SHAPE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# The address the connection came from, before uvicorn replaced ``client`` with the one
# a trusted proxy forwarded; set by the HTTP protocol (web/http_protocol.py).
PEER = "ostiary.peer"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# A random prefix per process and a counter: unique across workers and nodes, and a
# fraction of the cost of fresh random bytes per request (the token endpoint's budget).
_PREFIX = secrets.token_hex(6)
_NEXT = itertools.count(1)


def new_id() -> str:
    # Decimal: formatting the counter in hex cost as much as the rest of the id.
    return _PREFIX + str(next(_NEXT))


class RequestIds:
    def __init__(self, trusted_proxies: str) -> None:
        self._networks: list[Network] = [
            ipaddress.ip_network(entry) for entry in trusted_proxies.split(",") if entry
        ]
        # Without trusted proxies every id is new (the middleware then skips ``of``).
        self.trusting = bool(self._networks)

    def _trusted(self, scope: Scope) -> bool:
        peer = scope.get(PEER) or scope.get("client")
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def of(self, scope: Scope) -> str:
        """The id for this request: the proxy's when it may give one, else a new one."""
        if self._networks and self._trusted(scope):
            for name, value in scope["headers"]:
                if name == HEADER:
                    if _SHAPE.fullmatch(value):
                        return value.decode("ascii")
                    break
        return new_id()
