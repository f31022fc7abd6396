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
from ostiary.accounts.mfa import policy, verify
from ostiary.crypto.tokens import digest, new_secret
from ostiary.domain.mfa import AMR_MFA, AMR_PASSWORD, level_of
from ostiary.domain.users import User
from ostiary.errors import OAuthError
from ostiary.federation.sealing import client_secrets
from ostiary.oauth.params import parse_params, read_body
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from ostiary.web.browser import BROWSER_COOKIE, SESSION_COOKIE, Browser
from ostiary.web.responses import NO_STORE, error_page, json_response, page, redirect

# Where /account/login may send the person afterwards: our own account pages only.
NEXT_PATH = re.compile(r"/account(/[a-z-]{1,32})?")
FORM_EXPIRED = "The form has expired. Reload the page and try again."
NO_PASSWORDS = (
    "Passwords are not used on this server: sign in with your organisation's identity "
    "provider instead."
)
SIGN_IN_AGAIN = "Sign in again to change your security settings."
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
    return redirect("/account/login" + (f"?next={path}" if NEXT_PATH.fullmatch(path) else ""))


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
    request: Request, username: str, password: str, *, purpose: str, finish: bool = True
) -> PasswordOutcome:
    """Sign-in or re-authentication, with the login form's lockout and audit events.

    ``finish=False``: a right password is not yet a sign-in (a second factor may follow),
    so the account's failures are not forgiven and no success is recorded; the caller
    calls ``password_accepted`` once nothing more is owed."""
    services = services_of(request)
    ip = client_ip(request)
    keys = [throttle.account_key(username), throttle.ip_key(ip)]
    details = {"username": username, "purpose": purpose}
    if wait := await services.throttle.wait_seconds(keys):
        await login_failed(services, ip, "locked", details=details)
        return PasswordOutcome(None, throttle.locked_message(wait), 429)
    check = await signin.check_password(services, username, password)
    if check.user is None:
        await services.throttle.failed(keys)
        await login_failed(services, ip, check.reason, user_id=check.user_id, details=details)
        error = "Wrong username or password." if purpose == "login" else "Wrong password."
        return PasswordOutcome(None, error, 401)
    if finish:
        await password_accepted(services, check.user, ip, purpose=purpose)
    return PasswordOutcome(check.user)


async def password_accepted(
    services: Services, user: User, ip: str | None, *, purpose: str
) -> None:
    """A sign-in on the password alone: the account's failures are forgiven."""
    await services.throttle.succeeded([throttle.account_key(user.username)])
    await services.audit.record(
        "login.success",
        actor=f"user:{user.id}",
        user_id=user.id,
        ip=ip,
        details={"method": "pwd", "purpose": purpose},
    )


async def login(request: Request) -> Response:
    """/account/login: the password form that starts an SSO session for the account pages."""
    next_path = request.query_params.get("next", "/account")
    if not NEXT_PATH.fullmatch(next_path):
        next_path = "/account"
    if request.method == "GET":
        again = request.query_params.get("prompt") == "login"
        who = await signed_in(request)
        if who is not None and not again:
            return redirect(next_path)
        # prompt=login: a signed-in person signs in again (a change to their factors
        # needs a recent sign-in); the session stays, with a new sign-in time.
        notice = SIGN_IN_AGAIN if again and who is not None else None
        username = who.user.username if again and who is not None else ""
        return await _login_page(request, next_path=next_path, username=username, notice=notice)
    if refused := passwords_off(request):
        return refused
    form = await anonymous_form(request)
    if isinstance(form, Response):
        return form
    username = form.get("username", "")[:150]
    password = form.get("password", "")
    outcome = await check_password(request, username, password, purpose="login", finish=False)
    user = outcome.user
    if user is None:
        return await _login_page(
            request, outcome.status, next_path=next_path, username=username, error=outcome.error
        )
    services = services_of(request)
    # The account pages are no application: no client policy, no acr_values.
    owed = await policy.second_factor(services.store, services.settings, user.id, None, None)
    if owed is not None and not owed.enrol:
        return await ask_second_factor(request, user, next_path)
    await password_accepted(services, user, client_ip(request), purpose="login")
    if owed is not None:
        # Signed in on one factor only to reach the page where the second is added.
        next_path = "/account/security?notice=mfa-required"
    return await signed_in_redirect(request, user, next_path)


async def signed_in_redirect(
    request: Request,
    user: User,
    next_path: str,
    *,
    amr: tuple[str, ...] = ("pwd",),
    acr: str | None = None,
) -> Response:
    """Start the SSO session (a new cookie value) and go to ``next_path``."""
    services = services_of(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    token = await signin.start_session(services, user, cookie, amr=amr, acr=acr)
    response = redirect(next_path)
    browser_of(request).set_session(response, token)
    return response


# -- the second factor of /account/login ----------------------------------------------------

# The password was right and a second factor is owed: the pending sign-in is a one-time
# token (only its digest is stored) in a cookie of its own, never the session cookie.
MFA_COOKIE = "ost_mfa_login"
MFA_PURPOSE = "mfa-login"
MFA_PREFIX = "ost_ml_"
MFA_TTL = 300
WRONG_CODE = "Wrong code."
RECOVERY_USED = "/account/security?notice=recovery-code-used"


async def ask_second_factor(request: Request, user: User, next_path: str) -> Response:
    """Keep the sign-in pending server-side and send the browser to the code page."""
    token = new_secret(MFA_PREFIX)
    await services_of(request).store.one_time_tokens.add(
        token_hash=digest(token), user_id=user.id, purpose=MFA_PURPOSE, ttl=MFA_TTL
    )
    response = redirect("/account/login/mfa?next=" + next_path)
    browser_of(request).set_cookie(response, MFA_COOKIE, token, MFA_TTL)
    return response


async def pending_login(request: Request) -> tuple[bytes, User] | None:
    """The pending sign-in of this browser: its token's digest and the user, if live."""
    token = request.cookies.get(MFA_COOKIE, "")
    if not token.startswith(MFA_PREFIX) or len(token) > 100:
        return None
    token_hash = digest(token)
    services = services_of(request)
    pending = await services.store.one_time_tokens.peek(token_hash, MFA_PURPOSE)
    user = await services.store.users.get(pending.user_id) if pending else None
    if user is None or user.disabled:
        return None
    return token_hash, user


async def _mfa_page(
    request: Request,
    user: User,
    next_path: str,
    method: str | None,
    status: int = 200,
    error: str | None = None,
) -> Response:
    """The code page: the authenticator-app field, or the recovery-code field with
    ``method=recovery`` (and the passkey button, when that partial is installed)."""
    factors = [f for f in await services_of(request).store.factors.for_user(user.id) if f.confirmed]
    has_totp = any(f.kind == "totp" for f in factors)
    left = await services_of(request).store.factors.recovery_codes_left(user.id)
    if method != "recovery" or not left:
        method = "totp" if has_totp else None
    passkey_urls = "/account/login/passkey{}?next=" + next_path
    return anonymous_page(
        request,
        "account_login_mfa.html",
        status,
        next=next_path,
        passkey_options_url=passkey_urls.format("/options"),
        passkey_verify_url=passkey_urls.format(""),
        method=method,
        has_totp=has_totp,
        has_passkey=any(f.kind == "passkey" for f in factors),
        recovery_left=left,
        error=error,
    )


async def login_mfa(request: Request) -> Response:
    """/account/login/mfa: the second factor after a right password (RFC 6238 codes or a
    recovery code); the session starts only once it is right."""
    next_path = request.query_params.get("next", "/account")
    if not NEXT_PATH.fullmatch(next_path):
        next_path = "/account"
    services = services_of(request)
    pending = await pending_login(request)
    if pending is None or services.settings.mfa == "off":
        return redirect("/account/login?next=" + next_path)
    token_hash, user = pending
    if request.method == "GET":
        return await _mfa_page(request, user, next_path, request.query_params.get("method"))
    form = await anonymous_form(request)
    if isinstance(form, Response):
        return form
    method: verify.Method = "recovery" if form.get("method") == "recovery" else "totp"
    code = form.get("code", "")[:64]
    checked = await verify.check_code(services, user, method, code, ip=client_ip(request))
    if checked.wait:
        locked = throttle.locked_message(checked.wait)
        response = await _mfa_page(request, user, next_path, method, 429, locked)
        response.headers["Retry-After"] = str(checked.wait)
        return response
    if not checked.ok:
        return await _mfa_page(request, user, next_path, method, 401, WRONG_CODE)
    # Used only now: a wrong code leaves the pending sign-in for the next try.
    if await services.store.one_time_tokens.use(token_hash, MFA_PURPOSE) is None:
        return redirect("/account/login?next=" + next_path)
    if checked.recovery_left is not None:
        next_path = RECOVERY_USED
    return await finish_login(request, user, next_path, checked.amr)


async def finish_login(
    request: Request, user: User, next_path: str, added: tuple[str, ...], *, as_json: bool = False
) -> Response:
    """The second factor of a pending /account/login was right (its token is used): the
    session starts with the password and ``added``; a redirect to ``next_path`` (or, for a
    script, ``{"location": next_path}``)."""
    amr = tuple(dict.fromkeys((AMR_PASSWORD, *added)))
    await services_of(request).audit.record(
        "login.success",
        actor=f"user:{user.id}",
        user_id=user.id,
        ip=client_ip(request),
        details={"method": "+".join(amr), "purpose": "login"},
    )
    acr = level_of((AMR_MFA, *added))
    response = await signed_in_redirect(request, user, next_path, amr=amr, acr=acr)
    if as_json:
        cookies = response.headers.getlist("set-cookie")
        response = json_response({"location": next_path}, 200, NO_STORE)
        for value in cookies:
            response.headers.append("set-cookie", value)
    response.delete_cookie(MFA_COOKIE, path="/", secure=browser_of(request).secure, httponly=True)
    return response
