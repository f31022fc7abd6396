"""The account's security page: second factors and recovery codes.

A signed-in person lists their factors and removes them, adds an authenticator app
(RFC 6238 TOTP: a secret shown as a QR code and as text, counted only once a current code
from it is typed) and replaces their recovery codes. Codes are shown once, in the answer
to the POST that made them. Every change goes through ``changes.factor_changed``: it is
audited and ends the person's other sessions, this one kept. With ``OSTIARY_MFA=off`` the
page says so and every change answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary import clock
from ostiary.accounts.mfa import admin, recovery, totp
from ostiary.accounts.mfa.changes import REAUTHENTICATE, factor_changed, recently_signed_in
from ostiary.accounts.signin import SignedIn
from ostiary.domain import identifiers
from ostiary.domain.mfa import Factor
from ostiary.services import Services
from ostiary.web.account_auth import (
    client_ip,
    csrf,
    login_mfa,
    services_of,
    signed_in_page,
    signed_in_post,
)
from ostiary.web.account_routes import when
from ostiary.web.responses import error_page, page, redirect

NAME_MAX = 100  # mfa_factors.name
KIND_LABELS = {"totp": "Authenticator app", "passkey": "Passkey"}
MFA_OFF = "Multi-factor authentication is switched off on this server."
NOTICES = {
    "mfa-required": "Your organisation requires a second factor: add one below.",
    "factor-removed": "The factor was removed. Your other sessions were signed out.",
    "enrolment-expired": "That setup expired or was finished already: start again.",
    "no-factor": "Recovery codes stand in for a second factor: add a factor first.",
    "recovery-code-used": "You signed in with a recovery code; it is used up now, and "
    "{left} unused code(s) are left. If you lost your device, remove it below and add a "
    "new one.",
}
WRONG_CODE = "Wrong code: type the code the app shows now."


def factor_name(raw: str) -> str:
    """The one rule for a factor's name as a person types it: trimmed; empty means the
    default; one line of at most 100 characters. ValueError says what is wrong."""
    name = raw.strip() or totp.DEFAULT_NAME
    if len(name) > NAME_MAX:
        raise ValueError(f"The name can be at most {NAME_MAX} characters long.")
    try:
        return identifiers.single_line(name, "The name")
    except identifiers.InvalidIdentifier as exc:
        raise ValueError(f"{exc}.") from None


def _off(request: Request) -> bool:
    return services_of(request).settings.mfa == "off"


def _not_found() -> Response:
    return error_page(MFA_OFF, 404)


def _page(
    request: Request, who: SignedIn, status: int = 200, *, left: int = 0, **ctx: object
) -> Response:
    notice = NOTICES.get(request.query_params.get("notice", ""), "").format(left=left)
    return page(
        "account_security.html",
        status,
        csrf=csrf(request),
        user=who.user,
        notice=notice or None,
        local_login=services_of(request).settings.local_login,
        name_max=NAME_MAX,
        **ctx,
    )


@dataclass(frozen=True, slots=True)
class FactorRow:
    id: str
    name: str
    kind_label: str
    created: str
    last_used: str
    confirmed: bool


async def _overview(
    request: Request, who: SignedIn, status: int = 200, error: str | None = None
) -> Response:
    if _off(request):
        return _page(request, who, status, mfa_off=True)
    factors = services_of(request).store.factors
    now = clock.now()
    rows = [
        FactorRow(
            f.id,
            f.name,
            KIND_LABELS.get(f.kind, f.kind),
            when(f.created_at),
            when(f.last_used_at) if f.last_used_at else "never",
            f.confirmed,
        )
        for f in await factors.for_user(who.user.id)
        if not totp.abandoned(f, now)
    ]
    left = await factors.recovery_codes_left(who.user.id)
    return _page(
        request,
        who,
        status,
        left=left,
        error=error,
        factors=rows,
        has_factor=any(r.confirmed for r in rows),
        recovery_left=left,
    )


@signed_in_page
async def security(request: Request, who: SignedIn) -> Response:
    return await _overview(request, who)


async def _changed(request: Request, who: SignedIn, event: str, details: dict[str, object]) -> None:
    """The audit event of a change to the person's factors; their other sessions end."""
    await factor_changed(
        services_of(request),
        who.user.id,
        event,
        actor=f"user:{who.user.id}",
        details=details,
        keep_sid=who.session.sid,
        ip=client_ip(request),
    )


def _stale(who: SignedIn) -> Response | None:
    """The way to the sign-in page when the session's last sign-in is not recent enough
    to change factors (None: it is)."""
    return None if recently_signed_in(who.session) else redirect(REAUTHENTICATE)


@signed_in_post
async def begin_totp(request: Request, who: SignedIn, form: dict[str, str]) -> Response:
    """Start adding an authenticator app: a new secret, not yet counted."""
    if _off(request):
        return _not_found()
    if stale := _stale(who):
        return stale
    try:
        name = factor_name(form.get("name", "")[: NAME_MAX * 4])
    except ValueError as exc:
        return await _overview(request, who, 400, str(exc))
    services = services_of(request)
    factor_id, _ = await totp.begin(services.store.factors, services.settings, who.user.id, name)
    return redirect(f"/account/security/totp?factor={factor_id}")


async def _enrolling(services: Services, who: SignedIn, factor_id: str) -> Factor | None:
    """The person's TOTP factor still waiting for its first code."""
    factor = await services.store.factors.get(factor_id[:64])
    if (
        factor is None
        or factor.user_id != who.user.id
        or factor.kind != "totp"
        or factor.confirmed
        or totp.abandoned(factor, clock.now())
    ):
        return None
    return factor


async def _enrolment_page(
    request: Request, who: SignedIn, factor: Factor, status: int = 200, error: str | None = None
) -> Response:
    services = services_of(request)
    secret = totp.secret_of(services.settings, factor)
    uri = totp.provisioning_uri(secret, who.user.username, totp.issuer_label(services.settings))
    enrolment = {
        "factor_id": factor.id,
        "name": factor.name,
        "secret": secret,
        "uri": uri,
        "qr_svg": totp.qr_svg(uri),
    }
    return _page(request, who, status, enrolment=enrolment, error=error)


@signed_in_page
async def totp_page(request: Request, who: SignedIn) -> Response:
    """The QR code, the otpauth:// URI and the secret of a factor being added."""
    if _off(request):
        return _not_found()
    factor = await _enrolling(services_of(request), who, request.query_params.get("factor", ""))
    if factor is None:
        return redirect("/account/security?notice=enrolment-expired")
    return await _enrolment_page(request, who, factor)


@signed_in_post
async def confirm_totp(request: Request, who: SignedIn, form: dict[str, str]) -> Response:
    """RFC 6238 §5.2: a current code from the new secret makes it count. The first factor
    of the person comes with ten recovery codes, shown once."""
    if _off(request):
        return _not_found()
    services = services_of(request)
    factors = services.store.factors
    factor = await _enrolling(services, who, form.get("factor", ""))
    if factor is None:
        return redirect("/account/security?notice=enrolment-expired")
    code = form.get("code", "")[:64]
    if not await totp.confirm(factors, services.settings, who.user.id, factor.id, code):
        return await _enrolment_page(request, who, factor, 400, WRONG_CODE)
    codes = await recovery.for_first_factor(factors, who.user.id, factor.id)
    details: dict[str, object] = {"factor_id": factor.id, "kind": "totp", "name": factor.name}
    await _changed(request, who, "mfa.enrolled", {**details, "recovery_codes": len(codes)})
    if not codes:
        return redirect("/account/security")
    return _page(request, who, codes=codes, enrolled=factor.name)


@signed_in_post
async def remove_factor(request: Request, who: SignedIn, form: dict[str, str]) -> Response:
    """Remove one factor; with the last one the recovery codes go too."""
    if _off(request):
        return _not_found()
    if stale := _stale(who):
        return stale
    services = services_of(request)
    removed = await admin.remove(services.store.factors, who.user.id, form.get("factor", "")[:64])
    if removed is None:
        return await _overview(request, who, 404, "You have no such factor.")
    (factor,) = removed.factors
    if not factor.confirmed:
        # A setup never finished was never used to sign in: nothing else to undo.
        return redirect("/account/security")
    details = {"factor_id": factor.id, "kind": factor.kind, "name": factor.name}
    await _changed(
        request,
        who,
        "mfa.removed",
        {**details, "recovery_codes_deleted": removed.recovery_codes_deleted},
    )
    return redirect("/account/security?notice=factor-removed")


@signed_in_post
async def replace_codes(request: Request, who: SignedIn, _form: dict[str, str]) -> Response:
    """New recovery codes, shown once; every old one stops working."""
    if _off(request):
        return _not_found()
    if stale := _stale(who):
        return stale
    factors = services_of(request).store.factors
    if not any(f.confirmed for f in await factors.for_user(who.user.id)):
        return redirect("/account/security?notice=no-factor")
    codes = await recovery.replace(factors, who.user.id)
    await _changed(request, who, "mfa.recovery_codes_replaced", {"count": len(codes)})
    return _page(request, who, codes=codes)


routes: list[BaseRoute] = [
    Route("/account/security", security, methods=["GET"]),
    Route("/account/security/totp", begin_totp, methods=["POST"]),
    Route("/account/security/totp", totp_page, methods=["GET"]),
    Route("/account/security/totp/confirm", confirm_totp, methods=["POST"]),
    Route("/account/security/remove", remove_factor, methods=["POST"]),
    Route("/account/security/recovery-codes", replace_codes, methods=["POST"]),
    Route("/account/login/mfa", login_mfa, methods=["GET", "POST"]),
]
