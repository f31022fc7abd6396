"""Which surface a path belongs to, and so in which shape its errors are written: the
admin API's (RFC 9457 problems), SCIM's (RFC 7644 §3.12), the machine endpoints' (RFC 6749
§5.2 JSON) or a page a person reads."""

from __future__ import annotations

from typing import Literal

ADMIN_PREFIX = "/admin/api/v1"
SCIM_PREFIX = "/scim/v2"
# Paths a program calls, answered with RFC 6749 §5.2 JSON; the rest are pages.
MACHINE = frozenset(
    {
        "/token",
        "/revoke",
        "/introspect",
        "/par",
        "/jwks.json",
        "/userinfo",
        "/revocations",
        "/health",
    }
)

Surface = Literal["admin", "scim", "machine", "page"]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def surface_of(path: str) -> Surface:
    if _under(path, ADMIN_PREFIX):
        return "admin"
    if _under(path, SCIM_PREFIX):
        return "scim"
    if path in MACHINE or path.startswith("/.well-known/"):
        return "machine"
    return "page"
