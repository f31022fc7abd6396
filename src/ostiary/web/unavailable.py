"""Database outages answered 503 with Retry-After on every surface, never 500.

The endpoints' own error branches turn an unavailable database into their error shape
(``web.responses``, ``web.token_routes``, ``admin.problems``, ``scim.asgi``). This
middleware, outermost, catches what escapes them: a page's route, the admin API's and
SCIM's authentication before their routers, the JWKS. It answers in the shape of the
surface the path belongs to, and lets every other exception through unchanged.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary.admin.problems import problem_response
from ostiary.admin.problems import unavailable as admin_unavailable
from ostiary.scim.errors import unavailable as scim_unavailable
from ostiary.scim.request_parts import error_response as scim_error_response
from ostiary.storage.errors import is_unavailable
from ostiary.web.responses import log_unavailable, oauth_error, unavailable_error, unavailable_page
from ostiary.web.surfaces import surface_of


def unavailable_response(path: str) -> Response:
    """503 with Retry-After in the error shape of the surface ``path`` belongs to."""
    surface = surface_of(path)
    if surface == "admin":
        # RFC 9457 problem details.
        return problem_response(admin_unavailable())
    if surface == "scim":
        # RFC 7644 §3.12: the error's status is the HTTP status.
        return scim_error_response(scim_unavailable())
    if surface == "machine":
        return oauth_error(unavailable_error())
    return unavailable_page()


class DatabaseUnavailable:
    """ASGI middleware: an unavailable database becomes ``unavailable_response``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log_unavailable(scope["path"], exc)
            try:
                await unavailable_response(scope["path"])(scope, receive, send)
            except Exception:
                # The response had started: nothing else can be said on this request (the
                # server refuses a second start). No wrapper of ``send`` on every request
                # to know it beforehand: the token endpoint's budget is microseconds.
                raise exc from None
