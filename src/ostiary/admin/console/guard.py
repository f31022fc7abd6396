"""Every console request passes here: who is signed in, whether that still holds, what
their role lets them do, and the CSRF token of every form.

Nothing is trusted from the cookie alone: the Ostiary session it names must be live, the
user enabled and still holding a console role, checked against the database on each
request, so disabling an admin or taking the role away ends their console at once.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from ostiary import clock
from ostiary.admin.auth import Caller
from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID
from ostiary.admin.console import render
from ostiary.admin.console.forms import form_of
from ostiary.admin.console.permissions import Area, Forbidden, check, console_roles
from ostiary.admin.console.session import ConsoleSession, Cookies
from ostiary.admin.problems import Problem
from ostiary.domain.users import User
from ostiary.services import Services

log = logging.getLogger("ostiary.admin.console")

CSRF_FIELD = "csrf"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in admin of this request."""

    user: User
    roles: frozenset[str]
    session: ConsoleSession
    ip: str | None

    @property
    def caller(self) -> Caller:
        """The admin as the operations shared with the admin API know a caller: the audit
        events name them ``admin:<user id>``, as with a user's token at the API."""
        return Caller(self.user.id, CONSOLE_CLIENT_ID, frozenset(), self.ip)


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def client_ip(request: Request) -> str | None:
    """The address the audit events name: behind a trusted proxy, uvicorn has already put
    the X-Forwarded-For address here (``cli/serve.py``)."""
    return request.client.host if request.client else None


def services_of(request: Request) -> Services:
    return request.app.state.services


def cookies_of(request: Request) -> Cookies:
    state = request.app.state
    cookies: Cookies | None = getattr(state, "console_cookies", None)
    if cookies is None:
        cookies = state.console_cookies = Cookies(services_of(request).settings)
    return cookies


def console_page(area: Area, *, write: bool | None = None) -> Callable[[Handler], Callable]:
    """Wrap a console endpoint: sign-in, role (``write`` defaults to: the method is not
    GET or HEAD) and, on a POST, the form's CSRF token, before the handler runs."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            changing = write if write is not None else request.method not in ("GET", "HEAD")
            if _has_nul(request):
                # PostgreSQL cannot compare text holding NUL: no page could find it.
                return render.page(
                    request,
                    None,
                    "message.html",
                    status=400,
                    title="Not found",
                    message="A console address must not contain NUL characters.",
                )
            viewer = await signed_in(request)
            if viewer is None:
                return _to_login(request)
            try:
                check(viewer.roles, area, write=changing)
                if request.method == "POST":
                    await check_csrf(request, viewer.session)
                response = await handler(request, viewer)
            except Forbidden as refused:
                response = refusal(request, viewer, str(refused))
            except Problem as problem:
                response = render.page(
                    request,
                    viewer,
                    "message.html",
                    area=area,
                    status=problem.status,
                    title="Not done",
                    message=problem.detail,
                )
            cookies_of(request).touch(response, viewer.session)
            return response

        return endpoint

    return wrap


async def signed_in(request: Request) -> Viewer | None:
    """The admin of this request, or None (no cookie, idle, ended, disabled, no role)."""
    session = cookies_of(request).read(request)
    if session is None:
        return None
    store = services_of(request).store
    sso = await store.sessions.by_sid(session.sid)
    if sso is None or sso.user_id != session.user_id or sso.expires_at <= clock.now():
        return None
    user = await store.users.get(session.user_id)
    if user is None or user.disabled:
        return None
    effective = await store.access.effective(user.id)
    roles = console_roles(effective.roles)
    if not roles:
        return None
    return Viewer(user, roles, session, client_ip(request))


def refusal(request: Request, viewer: Viewer | None, message: str) -> Response:
    return render.page(
        request, viewer, "message.html", status=403, title="Not allowed", message=message
    )


async def check_csrf(request: Request, session: ConsoleSession) -> None:
    presented = (await form_of(request)).get(CSRF_FIELD)
    # Bytes, so a non-ASCII value is a mismatch and not a TypeError.
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode(), session.csrf.encode()
    ):
        raise Forbidden(
            "This form has expired or did not come from your console session. "
            "Go back, reload the page and try again."
        )


def _has_nul(request: Request) -> bool:
    query: bytes = request.scope.get("query_string", b"")
    return "\x00" in request.url.path or b"%00" in query or b"\x00" in query


def _to_login(request: Request) -> Response:
    back = request.url.path if request.method == "GET" else "/admin"
    if request.method == "GET" and request.url.query:
        back += "?" + request.url.query
    return render.redirect(request, "/admin/login?next=" + quote(back, safe="/"))
