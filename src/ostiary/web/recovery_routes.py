"""Forgotten password and email verification: the pages behind the mailed links."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.accounts import recovery
from ostiary.services import Services
from ostiary.web.account_auth import (
    anonymous_form,
    anonymous_page,
    client_ip,
    passwords_off,
    services_of,
)
from ostiary.web.responses import error_page, page

log = logging.getLogger("ostiary.web")

SENT = (
    "If an account with that username or email address exists, we sent a link to its "
    "email address. It works once, within 30 minutes."
)
LINK_INVALID = (
    "This link has expired or was used already. Ask for a new one on the "
    "“Forgot your password?” page."
)
VERIFY_INVALID = (
    "This link has expired, was used already, or your email address changed since it was "
    "sent. Ask for a new one on your account page."
)


async def forgot(request: Request) -> Response:
    """Ask for a reset link: the same answer, at once, whether or not the account exists."""
    if refused := passwords_off(request):
        return refused
    if request.method == "GET":
        return anonymous_page(request, "account_forgot.html")
    form = await anonymous_form(request)
    if isinstance(form, Response):
        return form
    identifier = form.get("identifier", "")[:320]
    services = services_of(request)
    # Looking up, mailing and throttling all happen after the response, so neither the
    # answer nor its timing tells whether the account exists.
    services.spawn(_request_reset(services, identifier, client_ip(request)))
    return page("account_message.html", title="Check your mail", message=SENT)


async def _request_reset(services: Services, identifier: str, ip: str | None) -> None:
    try:
        await recovery.request_reset(services, identifier, ip)
    except Exception:
        log.exception("handling a password reset request failed")


async def reset(request: Request) -> Response:
    """GET shows the form (the link is only looked at, so mail scanners cannot use it up);
    POST sets the new password and uses the link."""
    if refused := passwords_off(request):
        return refused
    services = services_of(request)
    if request.method == "GET":
        token = request.query_params.get("token")
        try:
            user = await recovery.peek_reset(services, token)
        except recovery.InvalidLink:
            return error_page(LINK_INVALID)
        return _reset_form(request, token or "", user.username)
    form = await anonymous_form(request)
    if isinstance(form, Response):
        return form
    token, new = form.get("token", ""), form.get("new_password", "")
    try:
        user = await recovery.peek_reset(services, token)
        if new != form.get("confirm_password", ""):
            return _reset_form(request, token, user.username, ["The passwords do not match."])
        await recovery.reset_password(services, token, new, ip=client_ip(request))
    except recovery.InvalidLink:
        return error_page(LINK_INVALID)
    except recovery.WeakPassword as exc:
        return _reset_form(request, token, user.username, exc.problems)
    return page(
        "account_message.html",
        title="Password changed",
        message="Your new password is set, and every session was signed out. Sign in again.",
        link=("/account/login", "Sign in"),
    )


def _reset_form(
    request: Request, token: str, username: str, errors: list[str] | None = None
) -> Response:
    min_length = services_of(request).settings.passwords.min_length
    return anonymous_page(
        request,
        "account_reset.html",
        400 if errors else 200,
        token=token,
        username=username,
        min_length=min_length,
        errors=errors or [],
    )


async def verify(request: Request) -> Response:
    """The link in the verification mail: possession of it proves the mailbox."""
    try:
        await recovery.verify_email(services_of(request), request.query_params.get("token"))
    except recovery.InvalidLink:
        return error_page(VERIFY_INVALID)
    return page(
        "account_message.html",
        title="Email address confirmed",
        message="Thank you: your email address is confirmed.",
        link=("/account", "Your account"),
    )


routes = [
    Route("/account/forgot", forgot, methods=["GET", "POST"]),
    Route("/account/reset", reset, methods=["GET", "POST"]),
    Route("/account/verify", verify, methods=["GET"]),
]
