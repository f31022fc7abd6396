"""Self-service account pages: overview, password, sessions, applications, data, deletion.

Every page needs the SSO session cookie (else /account/login); every form carries a CSRF
token bound to that cookie. POSTs answer with a redirect to a page and a fixed notice key,
so no posted text is ever reflected.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary import clock
from ostiary.accounts import export, lifecycle, password_policy, recovery, self_service
from ostiary.accounts.signin import SignedIn
from ostiary.web import recovery_routes
from ostiary.web.account_auth import (
    check_password,
    csrf,
    form_of,
    login,
    passwords_off,
    services_of,
    signed_in_page,
    signed_in_post,
)
from ostiary.web.responses import NO_STORE, page, redirect

NOTICES = {
    "password-changed": "Your password was changed. Your other sessions were signed out.",
    "verification-sent": "We sent you a link. Open it within 24 hours to confirm the address.",
    "mail-unavailable": "The mail could not be sent. Try again later or ask an administrator.",
    "too-many-mails": "Too many mails were sent to you recently. Try again later.",
    "session-ended": "That session was signed out.",
    "sessions-ended": "Your other sessions were signed out.",
    "application-revoked": "The application's access was revoked.",
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("notice", ""))


def when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _account_page(
    request: Request, who: SignedIn, template: str, status: int = 200, **ctx: object
) -> Response:
    return page(
        template,
        status,
        csrf=csrf(request),
        user=who.user,
        notice=_notice(request),
        local_login=services_of(request).settings.local_login,
        **ctx,
    )


@signed_in_page
async def overview(request: Request, who: SignedIn) -> Response:
    return _account_page(request, who, "account.html")


@signed_in_page
async def password(request: Request, who: SignedIn) -> Response:
    """Change the password: the current one first, then the policy."""
    if refused := passwords_off(request):
        return refused
    services = services_of(request)
    min_length = services.settings.passwords.min_length
    if request.method == "GET":
        return _account_page(request, who, "account_password.html", min_length=min_length)
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    current, new = form.get("current_password", ""), form.get("new_password", "")
    # Re-authentication: a borrowed session alone must not be enough to take the account.
    outcome = await check_password(request, who.user.username, current, purpose="password")
    errors = [outcome.error] if outcome.error else []
    if not errors:
        errors = password_policy.problems(
            new, min_length=min_length, username=who.user.username, email=who.user.email
        )
        if new != form.get("confirm_password", ""):
            errors.append("The new passwords do not match.")
        if new == current:
            errors.append("Choose a password different from the current one.")
    if errors:
        status = outcome.status if outcome.error else 400
        return _account_page(
            request, who, "account_password.html", status, min_length=min_length, errors=errors
        )
    await self_service.change_password(services, who, await services.passwords.hash(new))
    return redirect("/account?notice=password-changed")


@signed_in_page
async def sessions(request: Request, who: SignedIn) -> Response:
    views = await self_service.sessions_of(services_of(request), who)
    rows = [
        {
            "sid": v.sid,
            "created": when(v.created_at),
            "signed_in": when(v.auth_time),
            "expires": when(v.expires_at),
            "clients": v.clients,
            "current": v.current,
        }
        for v in views
    ]
    return _account_page(request, who, "account_sessions.html", sessions=rows)


@signed_in_post
async def end_sessions(request: Request, who: SignedIn, form: dict[str, str]) -> Response:
    """Sign out one other session (``sid``) or every other one (``all``)."""
    services = services_of(request)
    if form.get("scope") == "others":
        await self_service.end_other_sessions(services, who)
        return redirect("/account/sessions?notice=sessions-ended")
    await self_service.end_session(services, who, form.get("sid", "")[:64])
    return redirect("/account/sessions?notice=session-ended")


@signed_in_page
async def applications(request: Request, who: SignedIn) -> Response:
    apps = await self_service.applications_of(services_of(request), who.user.id)
    rows = [
        {"client_id": a.client_id, "name": a.name, "scopes": a.scopes, "since": when(a.granted_at)}
        for a in apps
    ]
    return _account_page(request, who, "account_applications.html", applications=rows)


@signed_in_post
async def revoke_application(request: Request, who: SignedIn, form: dict[str, str]) -> Response:
    client_id = form.get("client_id", "")[:64]
    await self_service.revoke_application(services_of(request), who.user.id, client_id)
    return redirect("/account/applications?notice=application-revoked")


@signed_in_post
async def download(request: Request, who: SignedIn, _form: dict[str, str]) -> Response:
    """Download my data: a JSON attachment (a POST, so the CSRF token guards it too)."""
    services = services_of(request)
    data = await export.account_data(services, who)
    await services.audit.record(
        "account.exported", actor=f"user:{who.user.id}", user_id=who.user.id
    )
    return Response(
        orjson.dumps(data, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={
            **NO_STORE,
            "Content-Disposition": 'attachment; filename="ostiary-account.json"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@signed_in_post
async def request_verification(request: Request, who: SignedIn, _form: dict[str, str]) -> Response:
    """Mail a link that confirms the account's email address."""
    services = services_of(request)
    # Counted per account like failures, so a session cannot be used to flood a mailbox.
    key = ["verify-mail:" + who.user.id]
    if await services.throttle.wait_seconds(key):
        return redirect("/account?notice=too-many-mails")
    await services.throttle.failed(key)
    sent = await recovery.send_verification(services, who.user)
    return redirect("/account?notice=" + ("verification-sent" if sent else "mail-unavailable"))


# Without a password to ask for, deleting needs a sign-in this recent (seconds).
RECENT_SIGN_IN = 600
NOT_RECENT = (
    "For your safety, deleting an account needs a recent sign-in: sign out, sign in again, "
    "and come back here within 10 minutes."
)
CONFIRM_MISMATCH = "Type your username exactly to confirm."


def _asks_password(request: Request, who: SignedIn) -> bool:
    return services_of(request).settings.local_login and who.user.password_hash is not None


@signed_in_page
async def delete(request: Request, who: SignedIn) -> Response:
    """Delete my account, after the password once more; an account without a password
    (signed in through an upstream provider) confirms with its username after a recent
    sign-in instead."""
    asks_password = _asks_password(request, who)
    recent = who.session.auth_time >= clock.now() - RECENT_SIGN_IN
    if request.method == "GET":
        return _account_page(
            request, who, "account_delete.html", asks_password=asks_password, recent=recent
        )
    form = await form_of(request)
    if isinstance(form, Response):
        return form
    if asks_password:
        outcome = await check_password(
            request, who.user.username, form.get("password", ""), purpose="delete"
        )
        if outcome.user is None:
            return _account_page(
                request,
                who,
                "account_delete.html",
                outcome.status,
                error=outcome.error,
                asks_password=True,
                recent=recent,
            )
    elif not recent or form.get("confirm_username", "") != who.user.username:
        return _account_page(
            request,
            who,
            "account_delete.html",
            403 if not recent else 400,
            error=NOT_RECENT if not recent else CONFIRM_MISMATCH,
            asks_password=False,
            recent=recent,
        )
    services = services_of(request)
    await lifecycle.delete(services, who.user, actor=f"user:{who.user.id}")
    response = page("account_deleted.html")
    request.app.state.browser.clear_session(response)
    return response


routes = [
    Route("/account", overview, methods=["GET"]),
    Route("/account/login", login, methods=["GET", "POST"]),
    Route("/account/password", password, methods=["GET", "POST"]),
    Route("/account/sessions", sessions, methods=["GET"]),
    Route("/account/sessions/end", end_sessions, methods=["POST"]),
    Route("/account/applications", applications, methods=["GET"]),
    Route("/account/applications/revoke", revoke_application, methods=["POST"]),
    Route("/account/export", download, methods=["POST"]),
    Route("/account/verify-email", request_verification, methods=["POST"]),
    Route("/account/delete", delete, methods=["GET", "POST"]),
    *recovery_routes.routes,
]
