"""Console pages: one Jinja environment, the console's security headers, and the one-shot
message a change leaves for the page it redirects to."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import Response

from ostiary.admin.console.permissions import NAVIGATION, Area, may_read, may_write

if TYPE_CHECKING:
    from ostiary.admin.console.guard import Viewer

FLASH_COOKIE = "ost_console_flash"
FLASH_MAX = 300
# No inline script or style anywhere: every asset is a file under /admin/static.
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _when(seconds: int | float | None) -> str:
    if seconds is None:
        return "never"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


templates = Environment(
    loader=PackageLoader("ostiary.admin.console", "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
templates.filters["when"] = _when
templates.filters["urlpart"] = lambda value: quote(str(value), safe="")


def page(
    request: Request,
    viewer: Viewer | None,
    name: str,
    *,
    area: Area | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    """A console page: the layout (navigation limited to what the viewer may read), the
    CSRF token for its forms, and the message a redirect left, shown once."""
    message = _flash(request)
    nav = []
    if viewer is not None:
        nav = [(a, label) for a, label in NAVIGATION if may_read(viewer.roles, a)]
    html = templates.get_template(name).render(
        viewer=viewer,
        nav=nav,
        area=area,
        csrf=viewer.session.csrf if viewer is not None else "",
        can_write=viewer is not None and area is not None and may_write(viewer.roles, area),
        flash=message,
        root=base_path(request),
        **context,
    )
    response = Response(html, status_code=status, media_type="text/html", headers=HEADERS)
    if message is not None:
        _set_flash(response, request, "", 0)
    return response


def redirect(request: Request, location: str, message: str | None = None) -> Response:
    """303 to a console path (never elsewhere), with a message for the page it lands on."""
    if not location.startswith("/admin") or location.startswith("//"):
        raise ValueError(f"not a console path: {location!r}")
    location = base_path(request) + location
    response = Response(status_code=303, headers={**HEADERS, "location": location})
    if message:
        value = base64.urlsafe_b64encode(message[:FLASH_MAX].encode()).decode().rstrip("=")
        _set_flash(response, request, value, 60)
    return response


def base_path(request: Request) -> str:
    """The issuer's path: what the browser puts before /admin (empty on most installs)."""
    issuer: str = request.app.state.services.settings.issuer
    return urlsplit(issuer).path.rstrip("/")


def _flash(request: Request) -> str | None:
    value = request.cookies.get(FLASH_COOKIE)
    if not value or len(value) > FLASH_MAX * 2:
        return None
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()[:FLASH_MAX]
    except (binascii.Error, ValueError):
        return None


def _set_flash(response: Response, request: Request, value: str, max_age: int) -> None:
    # Only ever shown as escaped text on the next console page: a forged value can only
    # say something to the one who forged it.
    secure = "; Secure" if request.app.state.services.settings.issuer.startswith("https") else ""
    path = base_path(request) + "/admin"
    header = f"{FLASH_COOKIE}={value}; HttpOnly; Max-Age={max_age}; Path={path}; SameSite=Strict"
    response.raw_headers.append((b"set-cookie", (header + secure).encode("latin-1")))
