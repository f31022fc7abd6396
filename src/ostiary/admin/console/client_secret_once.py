"""A new client secret, carried once from the POST that made it to the page that shows it.

The create and rotate forms redirect (post/redirect/get), so a reload never registers a
second client or rotates again. The secret crosses that redirect in a cookie sealed under
a purpose key of its own (AES-GCM), HttpOnly, scoped to the client's page, bound to the
admin who made it and good for two minutes; the page that shows it expires the cookie in
the same response, so a reload shows the secret no more. Nothing about it is stored.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ostiary import clock
from ostiary.admin.console.guard import Viewer, services_of
from ostiary.admin.console.render import base_path
from ostiary.admin.console.session import open_json, seal_json
from ostiary.crypto.sealing import Sealer

COOKIE = "ost_console_secret"
LIFETIME = 120
PURPOSE = "admin-console-client-secret"


def _sealer(request: Request) -> Sealer:
    return Sealer(services_of(request).settings.require_secret_key(), PURPOSE)


def _path(request: Request, client_id: str) -> str:
    return f"{base_path(request)}/admin/clients/{quote(client_id, safe='')}"


def _set(request: Request, response: Response, client_id: str, value: str, age: int) -> None:
    parts = [
        f"{COOKIE}={value}",
        "HttpOnly",
        f"Max-Age={age}",
        f"Path={_path(request, client_id)}",
        "SameSite=Strict",
    ]
    if services_of(request).settings.issuer.startswith("https://"):
        parts.append("Secure")
    response.raw_headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))


def keep(request: Request, response: Response, viewer: Viewer, client_id: str, secret: str) -> None:
    """Hand ``secret`` to the next GET of the client's page, for this admin only."""
    data = {"c": client_id, "u": viewer.user.id, "s": secret, "e": clock.now() + LIFETIME}
    value = seal_json(_sealer(request), data)
    _set(request, response, client_id, value, LIFETIME)


def waiting(request: Request) -> bool:
    return bool(request.cookies.get(COOKIE))


def forget(request: Request, response: Response, client_id: str) -> None:
    """End the cookie with the response that showed (or could not show) the secret."""
    _set(request, response, client_id, "", 0)


def take(request: Request, viewer: Viewer, client_id: str) -> str | None:
    """The secret waiting for this admin on this client's page, if any."""
    data = open_json(_sealer(request), request.cookies.get(COOKIE))
    if data is None:
        return None
    fresh = isinstance(data.get("e"), int) and data["e"] > clock.now()
    if data.get("c") != client_id or data.get("u") != viewer.user.id or not fresh:
        return None
    secret = data.get("s")
    return secret if isinstance(secret, str) else None
