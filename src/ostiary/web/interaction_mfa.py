"""The second factor of a sign-in at the authorization endpoint.

After the password (or, for a session reused here, when the request or the MFA policy
needs a higher level than the session reached: a step-up), the interaction records who
owes a second factor (``Interaction.pending_user_id``) and its state
(``Interaction.pending``: the methods passed so far, the level to reach, a TOTP secret
being enrolled, a WebAuthn challenge). The SSO session starts, or is raised, only once
the second factor is done: until then no code can be issued. Everything is kept
server-side; the pages work without JavaScript for TOTP and recovery codes.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ostiary.accounts import signin, throttle
from ostiary.accounts.mfa import recovery, totp, verify
from ostiary.accounts.mfa.changes import factor_changed
from ostiary.domain.interactions import InteractionState
from ostiary.domain.mfa import ACR_PHR, AMR_MFA, AMR_OTP, AMR_PASSWORD, Factor, level_of
from ostiary.domain.users import User
from ostiary.errors import OAuthError
from ostiary.oauth.params import parse_params, read_body
from ostiary.services import Services
from ostiary.web import authorize_routes as authz
from ostiary.web.browser import SESSION_COOKIE
from ostiary.web.responses import NO_STORE, error_page, page, redirect


def _services(request: Request) -> Services:
    return request.app.state.services


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def pending_of(request: Request) -> tuple[InteractionState, str, User | None] | Response:
    """The interaction of the URL if this browser owns it, its browser id, and the user
    who owes a second factor there (None: nobody yet); or the error page to answer."""
    loaded = await authz.load(request)
    if loaded is None:
        return error_page(authz.EXPIRED)
    state, browser_id = loaded
    pending_id = state.interaction.pending_user_id
    if pending_id is None:
        return state, browser_id, None
    user = await _services(request).store.users.get(pending_id)
    if user is None or user.disabled:
        return error_page(authz.EXPIRED)
    return state, browser_id, user


async def finish(
    request: Request,
    state: InteractionState,
    user: User,
    amr: tuple[str, ...],
    *,
    as_json: bool = False,
    then: Response | None = None,
) -> Response:
    """Both factors are done: start (or raise) the SSO session with ``amr`` and go on
    with the authorization request. ``as_json``: answer ``{"location": url}`` for a
    script (a passkey ceremony) instead of the next page or redirect; ``then``: answer
    with this page, from which the person continues to the interaction page."""
    services = _services(request)
    interaction = state.interaction
    methods = tuple(dict.fromkeys(amr))
    # The level is what the factor given here adds to one factor before it: whatever an
    # upstream provider not trusted for MFA said in its amr does not count.
    before = set((interaction.pending or {}).get("amr", ()))
    acr = level_of((AMR_MFA, *(m for m in methods if m not in before)))
    async with services.store.unit_of_work():
        await services.audit.record(
            "login.success",
            actor=f"user:{user.id}",
            user_id=user.id,
            ip=_ip(request),
            client_id=interaction.client_id,
            details={"method": "+".join(methods)},
        )
        cookie = request.cookies.get(SESSION_COOKIE)
        token, signed_in = await signin.sign_in(services, user, cookie, amr=methods, acr=acr)
        response: Response | None = None
        if not as_json and then is None:
            response = await authz.after_login(services, state, signed_in)
        if response is None:
            await services.store.interactions.mark_authenticated(interaction.id)
            location = f"/interaction/{interaction.id}"
            if then is not None:
                response = then
            elif as_json:
                response = JSONResponse({"location": location}, headers=NO_STORE)
            else:
                response = redirect(location)
    request.app.state.browser.set_session(response, token)
    return response


def _usable(factors: list[Factor], level: str) -> list[Factor]:
    return [f for f in factors if f.confirmed and (level != ACR_PHR or f.kind == "passkey")]


async def _page(
    request: Request,
    state: InteractionState,
    browser_id: str,
    user: User,
    *,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    services = _services(request)
    interaction = state.interaction
    pending = interaction.pending or {}
    level = pending.get("level", "")
    client = await services.store.clients.get(interaction.client_id)
    context: dict[str, Any] = {
        "interaction_id": interaction.id,
        "csrf": request.app.state.browser.csrf_token(interaction.id, browser_id),
        "client_name": client.name if client else interaction.client_id,
        "username": user.username,
        "error": error,
        "phishing_resistant": level == ACR_PHR,
        "passkey_options_url": f"/interaction/{interaction.id}/passkey/options",
        "passkey_verify_url": f"/interaction/{interaction.id}/passkey",
    }
    factors = await services.store.factors.for_user(user.id)
    usable = _usable(factors, level)
    if pending.get("enrol") and not usable:
        secret = await _enrolment_secret(services, state, user, factors)
        uri = totp.provisioning_uri(secret, user.username, totp.issuer_label(services.settings))
        response = page(
            "mfa_enrol.html",
            status,
            **context,
            qr_svg=totp.qr_svg(uri),
            otpauth_uri=uri,
            secret=secret,
        )
    else:
        method = request.query_params.get("method")
        has_totp = any(f.kind == "totp" for f in usable)
        left = await services.store.factors.recovery_codes_left(user.id)
        if method not in ("totp", "recovery") or (method == "recovery" and not left):
            method = "totp" if has_totp else None
        if level == ACR_PHR:
            method = None
        response = page(
            "mfa.html",
            status,
            **context,
            method=method,
            has_totp=has_totp and level != ACR_PHR,
            has_passkey=any(f.kind == "passkey" for f in usable),
            recovery_left=left if level != ACR_PHR else 0,
        )
    response.headers.update({**NO_STORE, **(headers or {})})
    return response


async def _enrolment_secret(
    services: Services, state: InteractionState, user: User, factors: list[Factor]
) -> str:
    """The TOTP secret offered on this interaction's enrolment page: the one begun here
    if it is still there, else a new one (recorded in the interaction's pending state)."""
    pending = dict(state.interaction.pending or {})
    begun = next((f for f in factors if f.id == pending.get("totp") and not f.confirmed), None)
    if begun is not None:
        return totp.secret_of(services.settings, begun)
    factor_id, secret = await totp.begin(
        services.store.factors, services.settings, user.id, totp.DEFAULT_NAME
    )
    pending["totp"] = factor_id
    await services.store.interactions.set_pending(state.interaction.id, user.id, pending)
    return secret


async def second_factor_page(request: Request) -> Response:
    found = await pending_of(request)
    if isinstance(found, Response):
        return found
    state, browser_id, user = found
    if user is None or _services(request).settings.mfa == "off":
        return redirect(f"/interaction/{state.interaction.id}")
    return await _page(request, state, browser_id, user)


async def _posted(
    request: Request,
) -> tuple[InteractionState, str, User, dict[str, str]] | Response:
    found = await pending_of(request)
    if isinstance(found, Response):
        return found
    state, browser_id, user = found
    try:
        form = parse_params(await read_body(request.stream()))
    except OAuthError as exc:
        return error_page(exc.description or "Malformed form.")
    if refused := authz.csrf_checked(request, state, browser_id, form):
        return refused
    if user is None:
        return redirect(f"/interaction/{state.interaction.id}")
    return state, browser_id, user, form


async def second_factor_submit(request: Request) -> Response:
    """A typed code: from an authenticator app (TOTP) or a recovery code."""
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    state, browser_id, user, form = posted
    services = _services(request)
    pending = state.interaction.pending or {}
    method: verify.Method = "recovery" if form.get("method") == "recovery" else "totp"
    if pending.get("level") == ACR_PHR:
        return await _page(request, state, browser_id, user, error="Use your passkey.", status=400)
    checked = await verify.check_code(
        services,
        user,
        method,
        form.get("code", "")[:64],
        ip=_ip(request),
        client_id=state.interaction.client_id,
    )
    if checked.wait:
        return await _page(
            request,
            state,
            browser_id,
            user,
            error=throttle.locked_message(checked.wait),
            status=429,
            headers={"Retry-After": str(checked.wait)},
        )
    if not checked.ok:
        return await _page(request, state, browser_id, user, error="Wrong code.", status=401)
    amr = (*pending.get("amr", [AMR_PASSWORD]), *checked.amr)
    if checked.recovery_left is None:
        return await finish(request, state, user, amr)
    # A recovery code used: the person learns how many are left before going on.
    shown = page(
        "mfa_recovery_used.html",
        200,
        interaction_id=state.interaction.id,
        left=checked.recovery_left,
    )
    shown.headers.update(NO_STORE)
    return await finish(request, state, user, amr, then=shown)


async def enrol_submit(request: Request) -> Response:
    """The first code from the secret shown on the enrolment page: the factor counts, the
    recovery codes are made and shown once, and the sign-in goes on."""
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    state, browser_id, user, form = posted
    services = _services(request)
    pending = state.interaction.pending or {}
    factor_id = pending.get("totp")
    if not pending.get("enrol") or not isinstance(factor_id, str):
        return redirect(f"/interaction/{state.interaction.id}/mfa")
    ok = await totp.confirm(
        services.store.factors, services.settings, user.id, factor_id, form.get("code", "")[:64]
    )
    if not ok:
        return await _page(
            request, state, browser_id, user, error="Wrong code: try the current one.", status=401
        )
    codes = await recovery.for_first_factor(services.store.factors, user.id, factor_id)
    await factor_changed(
        services,
        user.id,
        "mfa.enrolled",
        actor=f"user:{user.id}",
        details={"factor_id": factor_id, "kind": "totp", "during": "sign-in"},
        ip=_ip(request),
    )
    amr = (*pending.get("amr", [AMR_PASSWORD]), AMR_OTP, AMR_MFA)
    # The codes are shown once, on the page the sign-in continues from.
    shown = page("mfa_enrolled.html", 200, interaction_id=state.interaction.id, codes=codes)
    shown.headers.update(NO_STORE)
    return await finish(request, state, user, amr, then=shown)


routes: list[BaseRoute] = [
    Route("/interaction/{interaction_id}/mfa", second_factor_page, methods=["GET"]),
    Route("/interaction/{interaction_id}/mfa", second_factor_submit, methods=["POST"]),
    Route("/interaction/{interaction_id}/mfa/enrol", enrol_submit, methods=["POST"]),
]
