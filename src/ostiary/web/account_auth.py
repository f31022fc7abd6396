"""Who is on the account pages: the SSO session, CSRF tokens, and /account/login."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.accounts import signin, throttle
from ostiary.domain.users import User
from ostiary.errors import OAuthError
from ostiary.federation.sealing import client_secrets
from ostiary.oauth.params import parse_params, read_body
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from ostiary.web.browser import BROWSER_COOKIE, SESSION_COOKIE, Browser
from ostiary.web.responses import error_page, page, redirect

# Where /account/login may send the person afterwards: our own account pages only.
_NEXT = re.compile(r"/account(/[a-z-]{1,32})?")
FORM_EXPIRED = "The form has expired. Reload the page and try again."
NO_PASSWORDS = (
    "Passwords are not used on this server: sign in with your organisation's identity "
    "provider instead."
)
# CSRF tokens are bound to the session cookie when signed in, else to the browser cookie.
SIGNED_IN_PURPOSE = "account"
ANONYMOUS_PURPOSE = "account-anonymous"


def services_of(request: Request) -> Services:
    return request.app.state.services


def browser_of(request: Request) -> Browser:
    return request.app.state.browser


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def signed_in(request: Request) -> signin.SignedIn | None:
    return await signin.current(services_of(request), request.cookies.get(SESSION_COOKIE))


def passwords_off(request: Request) -> Response | None:
    """OSTIARY_LOCAL_LOGIN=false: a clear page instead of any password form or change."""
    if services_of(request).settings.local_login:
        return None
    return error_page(NO_PASSWORDS, 403)


async def _login_page(
    request: Request, status: int = 200, *, next_path: str, **context: object
) -> Response:
    """The account sign-in page: the password form (unless local login is off) and one
    button per enabled upstream provider."""
    services = services_of(request)
    buttons = await ProviderRepository(services.engine, client_secrets(services.settings)).buttons()
    return anonymous_page(
        request,
        "account_login.html",
        status,
        next=next_path,
        local_login=services.settings.local_login,
        providers=buttons,
        **context,
    )


def to_login(request: Request) -> Response:
    path = request.url.path
    return redirect("/account/login" + (f"?next={path}" if _NEXT.fullmatch(path) else ""))


def csrf(request: Request) -> str:
    """The CSRF token for a signed-in person's forms (bound to the session cookie)."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return browser_of(request).csrf_token(SIGNED_IN_PURPOSE, cookie)


async def form_of(request: Request) -> dict[str, str] | Response:
    """The posted form of a signed-in person, or the error page when it is forged."""
    try:
        form = parse_params(await read_body(request.stream()))
    except OAuthError as exc:
        return error_page(exc.description or "Malformed form.")
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie or not browser_of(request).csrf_ok(SIGNED_IN_PURPOSE, cookie, form.get("csrf")):
        return error_page(FORM_EXPIRED, 403)
    return form


async def signed_in_form(request: Request) -> tuple[signin.SignedIn, dict[str, str]] | Response:
    """A POST from a signed-in person: who, and their CSRF-checked form; else the answer
    to give (the sign-in page, or the error page of a forged or malformed form)."""
    who = await signed_in(request)
    if who is None:
        return to_login(request)
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    return who, form


Endpoint = Callable[[Request], Awaitable[Response]]


def signed_in_page(
    handler: Callable[[Request, signin.SignedIn], Awaitable[Response]],
) -> Endpoint:
    """An endpoint for signed-in people only: anyone else is sent to the sign-in page."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        who = await signed_in(request)
        if who is None:
            return to_login(request)
        return await handler(request, who)

    return endpoint


def signed_in_post(
    handler: Callable[[Request, signin.SignedIn, dict[str, str]], Awaitable[Response]],
) -> Endpoint:
    """A POST endpoint whose handler gets who posted and their CSRF-checked form (see
    ``signed_in_form`` for every other answer)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        posted = await signed_in_form(request)
        if isinstance(posted, Response):
            return posted
        return await handler(request, *posted)

    return endpoint


def anonymous_csrf(request: Request) -> tuple[str, str | None]:
    """A CSRF token for forms shown before sign-in, and a new browser id to set if needed."""
    browser_id = Browser.browser_id(request)
    fresh = None if browser_id else Browser.new_browser_id()
    token = browser_of(request).csrf_token(ANONYMOUS_PURPOSE, browser_id or fresh or "")
    return token, fresh


def anonymous_page(
    request: Request, template: str, status: int = 200, **context: object
) -> Response:
    token, fresh = anonymous_csrf(request)
    response = page(template, status, csrf=token, **context)
    if fresh:
        ttl = services_of(request).settings.sessions.ttl
        browser_of(request).set_cookie(response, BROWSER_COOKIE, fresh, ttl)
    return response


async def anonymous_form(request: Request) -> dict[str, str] | Response:
    try:
        form = parse_params(await read_body(request.stream()))
    except OAuthError as exc:
        return error_page(exc.description or "Malformed form.")
    browser_id = Browser.browser_id(request)
    if not browser_id or not browser_of(request).csrf_ok(
        ANONYMOUS_PURPOSE, browser_id, form.get("csrf")
    ):
        return error_page(FORM_EXPIRED, 403)
    return form


async def login_failed(
    services: Services,
    ip: str | None,
    reason: str | None,
    *,
    details: dict[str, Any],
    user_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """The audit event of a refused sign-in."""
    await services.audit.record(
        "login.failure",
        actor="anonymous",
        user_id=user_id,
        client_id=client_id,
        ip=ip,
        outcome="failure",
        reason=reason,
        details=details,
    )


@dataclass(frozen=True, slots=True)
class PasswordOutcome:
    user: User | None
    error: str | None = None
    status: int = 200


async def check_password(
    request: Request, username: str, password: str, *, purpose: str
) -> PasswordOutcome:
    """Sign-in or re-authentication, with the login form's lockout and audit events."""
    services = services_of(request)
    ip = client_ip(request)
    keys = [throttle.account_key(username), throttle.ip_key(ip)]
    details = {"username": username, "purpose": purpose}
    if wait := await services.throttle.wait_seconds(keys):
        await login_failed(services, ip, "locked", details=details)
        minutes = max(1, -(-wait // 60))
        return PasswordOutcome(
            None, f"Too many failed attempts. Try again in {minutes} minute(s).", 429
        )
    check = await signin.check_password(services, username, password)
    if check.user is None:
        await services.throttle.failed(keys)
        await login_failed(services, ip, check.reason, user_id=check.user_id, details=details)
        error = "Wrong username or password." if purpose == "login" else "Wrong password."
        return PasswordOutcome(None, error, 401)
    await services.throttle.succeeded(keys[:1])
    await services.audit.record(
        "login.success",
        actor=f"user:{check.user.id}",
        user_id=check.user.id,
        ip=ip,
        details={"method": "pwd", "purpose": purpose},
    )
    return PasswordOutcome(check.user)


async def login(request: Request) -> Response:
    """/account/login: the password form that starts an SSO session for the account pages."""
    next_path = request.query_params.get("next", "/account")
    if not _NEXT.fullmatch(next_path):
        next_path = "/account"
    if request.method == "GET":
        if await signed_in(request) is not None:
            return redirect(next_path)
        return await _login_page(request, next_path=next_path, username="")
    if refused := passwords_off(request):
        return refused
    form = await anonymous_form(request)
    if isinstance(form, Response):
        return form
    username = form.get("username", "")[:150]
    outcome = await check_password(request, username, form.get("password", ""), purpose="login")
    user = outcome.user
    if user is None:
        return await _login_page(
            request, outcome.status, next_path=next_path, username=username, error=outcome.error
        )
    services = services_of(request)
    token = await signin.start_session(services, user, request.cookies.get(SESSION_COOKIE))
    response = redirect(next_path)
    browser_of(request).set_session(response, token)
    return response
