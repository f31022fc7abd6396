"""Signing in to the console: the console is a first-party, public client of this very
server and signs in through its own authorization endpoint (authorization code with PKCE,
RFC 7636 §4), asking for a second factor (``acr_values``, OIDC Core §3.1.2.1) whenever
MFA is not switched off. The code is redeemed in-process at the token endpoint's protocol
code, and the ID token checked as any relying party would (OIDC Core §3.1.3.7).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from ostiary.accounts.logout import end_session
from ostiary.admin.console import render, setup
from ostiary.admin.console.guard import (
    CONSOLE_CLIENT_ID,
    check_csrf,
    client_ip,
    cookies_of,
    refusal,
    services_of,
    signed_in,
)
from ostiary.admin.console.permissions import Forbidden, console_roles
from ostiary.admin.console.setup import callback_uri
from ostiary.admin.problems import Problem
from ostiary.domain.mfa import ACR_MFA, meets
from ostiary.errors import OAuthError
from ostiary.oauth import pkce
from ostiary.oauth.token_endpoint import token
from ostiary.services import Services
from ostiary.tokens import signed
from ostiary.tokens.id_token import ID_TOKEN_TYP

log = logging.getLogger("ostiary.admin.console")


def mfa_required(services: Services) -> bool:
    """The console wants a second factor whenever any factor kind is on."""
    return services.settings.mfa != "off"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if not value or not value.startswith("/admin") or value.startswith("//"):
        return "/admin"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or any(ord(c) < 32 for c in value):
        return "/admin"
    return value


async def login(request: Request) -> Response:
    """Start a sign-in: to the authorization endpoint with state, nonce and PKCE."""
    services = services_of(request)
    if await signed_in(request) is not None:
        return render.redirect(request, safe_next(request.query_params.get("next")))
    await setup.ensure(services)
    response = Response(status_code=303, headers=render.HEADERS)
    pending = cookies_of(request).begin_login(response, safe_next(request.query_params.get("next")))
    params = {
        "response_type": "code",
        "client_id": CONSOLE_CLIENT_ID,
        "redirect_uri": callback_uri(services),
        "scope": "openid",
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": pkce.s256(pending.verifier),
        "code_challenge_method": "S256",
    }
    if mfa_required(services):
        params["acr_values"] = ACR_MFA
    response.headers["location"] = f"{services.settings.issuer}/authorize?{urlencode(params)}"
    return response


async def callback(request: Request) -> Response:
    """The way back from the authorization endpoint (RFC 6749 §4.1.2)."""
    services = services_of(request)
    cookies = cookies_of(request)
    pending = cookies.pending_login(request)
    query = request.query_params
    if pending is None or query.get("state") != pending.state:
        # RFC 6749 §10.12: a response this browser did not ask for is dropped.
        return _problem(request, "This sign-in has expired or was not started here.", 400)
    if "error" in query:
        text = query.get("error_description") or query["error"]
        return _problem(request, f"Sign-in did not complete: {text[:200]}", 400)
    code = query.get("code")
    if not code:
        return _problem(request, "The sign-in response carries no code.", 400)
    try:
        claims = await _redeem(request, services, code, pending.verifier, pending.nonce)
    except Rejected as rejected:
        log.warning("console sign-in rejected: %s", rejected)
        return _problem(request, "Sign-in could not be completed. Please start again.", 400)
    user = await services.store.users.get(str(claims["sub"]))
    roles = console_roles((await services.store.access.effective(user.id)).roles) if user else ()
    if user is None or user.disabled or not roles:
        response = refusal(
            request,
            None,
            "Your account has no console role (admin, user-admin or auditor). "
            "Ask an administrator to grant you one.",
        )
        cookies.end_login(response)
        return response
    response = render.redirect(request, pending.back_to)
    cookies.end_login(response)
    cookies.start(response, user.id, str(claims["sid"]))
    await services.audit.record(
        "admin.console.signed_in",
        actor=f"admin:{user.id}",
        user_id=user.id,
        ip=client_ip(request),
    )
    return response


class Rejected(Exception):
    """The sign-in's answer failed a check; the message is logged, the page says less."""


async def _redeem(
    request: Request, services: Services, code: str, verifier: str, nonce: str
) -> dict[str, Any]:
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback_uri(services),
            "client_id": CONSOLE_CLIENT_ID,
            "code_verifier": verifier,
        }
    ).encode()
    try:
        issued = await token(services, body, None, client_ip(request))
    except OAuthError as exc:
        raise Rejected(f"token endpoint: {exc.error}") from None
    try:
        keys = await services.keys.fresh()
        claims = await signed.verify(
            keys,
            str(issued.get("id_token")),
            issuer=services.settings.issuer,
            typ={ID_TOKEN_TYP},
        )
    except signed.InvalidToken as exc:
        raise Rejected(f"ID token: {exc}") from None
    check_claims(claims, nonce, wants_mfa=mfa_required(services))
    return claims


def check_claims(claims: dict[str, Any], nonce: str, *, wants_mfa: bool) -> None:
    """What the console asks of its ID token beyond the signature, issuer and expiry that
    ``signed.verify`` checks; ``Rejected`` names what failed (for the log, not the page)."""
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    # OIDC Core §3.1.3.7 steps 3 and 11: our audience, our nonce.
    if CONSOLE_CLIENT_ID not in audiences or claims.get("nonce") != nonce:
        raise Rejected("ID token audience or nonce")
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("sid"), str):
        raise Rejected("ID token without sub or sid")
    # OIDC Core §5.5.1.1: acr_values is a request; the console holds the answer to it.
    acr = claims.get("acr")
    if wants_mfa and not meets(acr if isinstance(acr, str) else None, [ACR_MFA]):
        raise Rejected("sign-in without a second factor")


async def logout(request: Request) -> Response:
    """End the console session and the Ostiary session behind it (a POST with the form's
    CSRF token; a stray link cannot sign an admin out)."""
    viewer = await signed_in(request)
    services = services_of(request)
    response = render.redirect(request, "/admin/signed-out")
    cookies_of(request).end(response)
    if viewer is None:
        return response
    try:
        await check_csrf(request, viewer.session)
    except (Forbidden, Problem) as refused:
        return refusal(request, viewer, str(refused))
    session = await services.store.sessions.by_sid(viewer.session.sid)
    if session is not None:
        await end_session(services, session)
    await services.audit.record(
        "admin.console.signed_out",
        actor=viewer.caller.actor,
        user_id=viewer.user.id,
        ip=viewer.ip,
    )
    return response


async def signed_out(request: Request) -> Response:
    return render.page(request, None, "signed_out.html")


def _problem(request: Request, message: str, status: int) -> Response:
    return render.page(
        request,
        None,
        "message.html",
        status=status,
        title="Sign-in failed",
        message=message,
        retry=True,
    )
