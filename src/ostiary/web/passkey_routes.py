"""Passkeys (WebAuthn): registration on the account pages, and sign-in with one.

Every endpoint speaks JSON with ``static/passkeys.js``: options out, the browser's
credential in. The CSRF token comes in the body (``csrf``) or an ``X-CSRF-Token`` header
and is checked as the forms' is; bodies are size-capped; anything malformed is a 400 with
a sentence the page shows. With ``OSTIARY_MFA=off`` every endpoint answers 404.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.accounts.mfa import passkeys, recovery
from ostiary.accounts.mfa.changes import REAUTHENTICATE, factor_changed, recently_signed_in
from ostiary.accounts.mfa.passkeys import PasskeyError
from ostiary.accounts.signin import SignedIn
from ostiary.domain.interactions import InteractionState
from ostiary.domain.mfa import ACR_PHR, AMR_PASSWORD
from ostiary.domain.users import User
from ostiary.errors import OAuthError
from ostiary.oauth.params import MAX_BODY, read_body
from ostiary.web import interaction_mfa
from ostiary.web.account_auth import (
    ANONYMOUS_PURPOSE,
    MFA_PURPOSE,
    NEXT_PATH,
    SIGNED_IN_PURPOSE,
    browser_of,
    client_ip,
    finish_login,
    pending_login,
    services_of,
    signed_in,
)
from ostiary.web.account_security_routes import NAME_MAX, factor_name
from ostiary.web.authorize_routes import EXPIRED
from ostiary.web.browser import SESSION_COOKIE, Browser
from ostiary.web.responses import NO_STORE, json_response

CSRF_HEADER = "x-csrf-token"
DEFAULT_NAME = "Passkey"
FORGED = "The page has expired. Reload it and try again."
OFF = "Passkeys are not used on this server."
NO_CHALLENGE = "Ask for the passkey again: that request was used or has expired."


SIGN_IN_AGAIN = "Sign in again to change your security settings."


def _error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status, NO_STORE)


def _ok(body: dict[str, Any]) -> Response:
    return json_response(body, 200, NO_STORE)


async def _body(request: Request) -> dict[str, Any] | Response:
    """The JSON object posted (at most MAX_BODY bytes), or the 400 saying what is wrong."""
    try:
        raw = await read_body(request.stream(), MAX_BODY)
    except OAuthError:
        return _error("The request is too large.", 413)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _error("The request is not JSON.")
    if not isinstance(body, dict):
        return _error("The request must be a JSON object.")
    return body


def _csrf_token(request: Request, body: dict[str, Any]) -> str | None:
    presented = request.headers.get(CSRF_HEADER) or body.get("csrf")
    return presented if isinstance(presented, str) else None


def _credential(body: dict[str, Any]) -> dict[str, Any] | Response:
    credential = body.get("credential")
    if not isinstance(credential, dict):
        return _error("The request has no passkey credential.")
    return credential


# -- registration on /account/security --------------------------------------------------------


def _name(raw: object) -> str:
    """The security page's rule for a factor's name; none or blank: "Passkey"."""
    if raw is not None and not isinstance(raw, str):
        raise PasskeyError("The name must be text.")
    if raw is None or not raw.strip():
        return DEFAULT_NAME
    try:
        return factor_name(raw[: NAME_MAX * 4])
    except ValueError as exc:
        raise PasskeyError(str(exc)) from None


async def _account_posted(request: Request) -> tuple[SignedIn, dict[str, Any]] | Response:
    """Who posted, and their CSRF-checked JSON body; else the JSON error to answer."""
    if services_of(request).settings.mfa == "off":
        return _error(OFF, 404)
    who = await signed_in(request)
    if who is None:
        return _error("Sign in first.", 401)
    body = await _body(request)
    if isinstance(body, Response):
        return body
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not browser_of(request).csrf_ok(SIGNED_IN_PURPOSE, cookie, _csrf_token(request, body)):
        return _error(FORGED, 403)
    if not recently_signed_in(who.session):
        return json_response({"error": SIGN_IN_AGAIN, "location": REAUTHENTICATE}, 403, NO_STORE)
    return who, body


async def registration_options(request: Request) -> Response:
    """WebAuthn L3 §5.4: creation options for the signed-in person's new passkey."""
    posted = await _account_posted(request)
    if isinstance(posted, Response):
        return posted
    who, _ = posted
    return _ok(await passkeys.begin_registration(services_of(request), who.user))


async def register(request: Request) -> Response:
    """WebAuthn L3 §7.1: store the new passkey. The person's first factor comes with ten
    recovery codes, in this answer only."""
    posted = await _account_posted(request)
    if isinstance(posted, Response):
        return posted
    who, body = posted
    credential = _credential(body)
    if isinstance(credential, Response):
        return credential
    services = services_of(request)
    factors = services.store.factors
    try:
        name = _name(body.get("name"))
        factor = await passkeys.finish_registration(services, who.user, credential, name)
    except PasskeyError as exc:
        return _error(exc.message, exc.status)
    codes = await recovery.for_first_factor(factors, who.user.id, factor.id)
    await factor_changed(
        services,
        who.user.id,
        "mfa.enrolled",
        actor=f"user:{who.user.id}",
        details={
            "factor_id": factor.id,
            "kind": "passkey",
            "name": factor.name,
            "backup_eligible": factor.backup_eligible,
            "recovery_codes": len(codes),
        },
        keep_sid=who.session.sid,
        ip=client_ip(request),
    )
    return _ok({"factor": factor.public_view(), "recovery_codes": codes})


# -- sign-in in an authorization interaction --------------------------------------------------


async def _interaction_posted(
    request: Request,
) -> tuple[InteractionState, User | None, dict[str, Any]] | Response:
    """The interaction of the URL (this browser's), who owes a second factor there (None:
    passwordless) and the CSRF-checked JSON body; else the JSON error to answer."""
    if services_of(request).settings.mfa == "off":
        return _error(OFF, 404)
    found = await interaction_mfa.pending_of(request)
    if isinstance(found, Response):
        return _error(EXPIRED, found.status_code)
    state, browser_id, user = found
    body = await _body(request)
    if isinstance(body, Response):
        return body
    token = _csrf_token(request, body)
    if not browser_of(request).csrf_ok(state.interaction.id, browser_id, token):
        return _error(FORGED, 403)
    return state, user, body


def _needs_uv(state: InteractionState) -> bool:
    # A request for phr: only a passkey that verified the person reaches it.
    return (state.interaction.pending or {}).get("level") == ACR_PHR


async def sign_in_options(request: Request) -> Response:
    """WebAuthn L3 §5.5: request options; the challenge is kept in the interaction."""
    posted = await _interaction_posted(request)
    if isinstance(posted, Response):
        return posted
    state, user, _ = posted
    services = services_of(request)
    factors = None
    if user is not None:
        mine = await services.store.factors.for_user(user.id)
        factors = [f for f in mine if f.kind == "passkey" and f.confirmed]
        if not factors:
            return _error("You have no passkey: use another way to confirm it is you.")
    challenge = passkeys.new_challenge()
    pending = {**(state.interaction.pending or {}), "challenge": passkeys.challenge_text(challenge)}
    interaction_id = state.interaction.id
    await services.store.interactions.set_pending(
        interaction_id, user.id if user else None, pending
    )
    rp = passkeys.relying_party(services.settings)
    return _ok(passkeys.authentication_options(rp, challenge, factors, require_uv=_needs_uv(state)))


async def sign_in(request: Request) -> Response:
    """WebAuthn L3 §7.2: the passkey as the second factor of the pending user, or, with
    nobody pending, passwordless (discoverable credential, user verified). Answers
    ``{"location": ...}`` with the session cookie set."""
    posted = await _interaction_posted(request)
    if isinstance(posted, Response):
        return posted
    state, user, body = posted
    services = services_of(request)
    interaction = state.interaction
    pending = dict(interaction.pending or {})
    text = pending.pop("challenge", None)
    challenge = passkeys.challenge_from(text)
    if challenge is None or not isinstance(text, str):
        return _error(NO_CHALLENGE)
    # Used once, whatever the answer, and by one request only even when the same answer
    # is posted twice at once: a second try asks for new options.
    if not await services.store.interactions.take_challenge(interaction.id, text, pending or None):
        return _error(NO_CHALLENGE)
    credential = _credential(body)
    if isinstance(credential, Response):
        return credential
    try:
        asserted = await passkeys.finish_authentication(
            services,
            credential,
            challenge=challenge,
            expected=user,
            require_uv=_needs_uv(state),
            ip=client_ip(request),
            client_id=interaction.client_id,
        )
    except PasskeyError as exc:
        return _error(exc.message, exc.status)
    if user is not None:
        amr = (*pending.get("amr", [AMR_PASSWORD]), *asserted.amr)
        return await interaction_mfa.finish(request, state, user, amr, as_json=True)
    owner = await services.store.users.get(asserted.user_id)
    if owner is None or owner.disabled:
        return _error(passkeys.UNKNOWN)
    return await interaction_mfa.finish(request, state, owner, asserted.amr, as_json=True)


# -- the second factor of /account/login ---------------------------------------------------


async def _account_login_posted(
    request: Request,
) -> tuple[bytes, User, dict[str, Any], str] | Response:
    """The pending /account/login of this browser (its token's digest and user), the
    CSRF-checked JSON body and where to go next; else the JSON error to answer."""
    if services_of(request).settings.mfa == "off":
        return _error(OFF, 404)
    pending = await pending_login(request)
    if pending is None:
        return _error("This sign-in has expired: start again.", 400)
    body = await _body(request)
    if isinstance(body, Response):
        return body
    browser_id = Browser.browser_id(request)
    token = _csrf_token(request, body)
    if not browser_id or not browser_of(request).csrf_ok(ANONYMOUS_PURPOSE, browser_id, token):
        return _error(FORGED, 403)
    next_path = request.query_params.get("next", "/account")
    return pending[0], pending[1], body, next_path if NEXT_PATH.fullmatch(next_path) else "/account"


async def account_login_options(request: Request) -> Response:
    """WebAuthn L3 §5.5: request options for the pending user's passkeys."""
    posted = await _account_login_posted(request)
    if isinstance(posted, Response):
        return posted
    options = await passkeys.begin_sign_in(services_of(request), posted[1])
    if options is None:
        return _error("You have no passkey: use another way to confirm it is you.")
    return _ok(options)


async def account_login(request: Request) -> Response:
    """WebAuthn L3 §7.2: the passkey as /account/login's second factor; the session starts
    and the answer says where to go."""
    posted = await _account_login_posted(request)
    if isinstance(posted, Response):
        return posted
    token_hash, user, body, next_path = posted
    credential = _credential(body)
    if isinstance(credential, Response):
        return credential
    services = services_of(request)
    try:
        challenge = await passkeys.take_sign_in_challenge(services, user, credential)
        asserted = await passkeys.finish_authentication(
            services,
            credential,
            challenge=challenge,
            expected=user,
            require_uv=False,
            ip=client_ip(request),
            client_id=None,
        )
    except PasskeyError as exc:
        return _error(exc.message, exc.status)
    if await services.store.one_time_tokens.use(token_hash, MFA_PURPOSE) is None:
        return _error("This sign-in has expired: start again.", 400)
    return await finish_login(request, user, next_path, asserted.amr, as_json=True)


routes: list[BaseRoute] = [
    Route("/account/login/passkey/options", account_login_options, methods=["POST"]),
    Route("/account/login/passkey", account_login, methods=["POST"]),
    Route("/account/security/passkeys/options", registration_options, methods=["POST"]),
    Route("/account/security/passkeys", register, methods=["POST"]),
    Route("/interaction/{interaction_id}/passkey/options", sign_in_options, methods=["POST"]),
    Route("/interaction/{interaction_id}/passkey", sign_in, methods=["POST"]),
]
