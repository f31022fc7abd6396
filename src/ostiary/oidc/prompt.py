"""What an authorization request needs next: login, a second factor, consent, or nothing
(OIDC Core §3.1.2.1, §3.1.2.6), and the level (acr) the session reached."""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from ostiary import clock
from ostiary.accounts.mfa import policy
from ostiary.accounts.signin import SignedIn
from ostiary.domain.clients import Client
from ostiary.domain.mfa import ACR_LEVELS, ACR_MFA, ACR_PWD, level_of, meets
from ostiary.oauth.authorize import AuthorizationRequest
from ostiary.oauth.consent import needs_consent
from ostiary.tokens.claims import essential_acr, requested_acr, requested_sub
from ostiary.tokens.deps import HasSettings, HasStore
from ostiary.tokens.id_token import Authentication


class Deciding(HasSettings, HasStore, Protocol):
    """What deciding the next step reads: the MFA setting and the store."""


class Step(Enum):
    LOGIN = "login"
    # Signed in, but the session's level is below what the request or the MFA policy needs.
    SECOND_FACTOR = "second_factor"
    CONSENT = "consent"
    ISSUE = "issue"


def must_log_in(
    request: AuthorizationRequest, signed_in: SignedIn | None, *, authenticated_here: bool
) -> bool:
    if signed_in is None:
        return True
    if authenticated_here:
        return False
    if "login" in request.prompt or "select_account" in request.prompt:
        return True
    # max_age: the last authentication is too old; 0 means "always" (Core errata set 2).
    if request.max_age is not None and (
        request.max_age == 0 or clock.now() - signed_in.session.auth_time > request.max_age
    ):
        return True
    # id_token_hint, or a claims request for a sub value (§3.1.2.2), names someone else
    # than who is signed in: ask who this is.
    return any(
        named is not None and named != signed_in.user.id
        for named in (request.id_token_hint_sub, requested_sub(request.claims))
    )


def level(signed_in: SignedIn) -> str:
    """The acr the session reached: from its methods, or set at sign-in (federation: the
    level the upstream provider's authentication counts for here)."""
    acr = signed_in.session.acr
    if acr is not None:
        # An acr not of ours (a session from before these levels) counts as one factor.
        return acr if acr in ACR_LEVELS else ACR_PWD
    return level_of(signed_in.session.amr)


def _check_sub(request: AuthorizationRequest, signed_in: SignedIn) -> None:
    named = requested_sub(request.claims)
    if named is not None and named != signed_in.user.id:
        # §3.1.2.2: a positive response only for the End-User the sub value names.
        raise request.fail("access_denied", "the signed-in user is not the one requested")


def asked_level(request: AuthorizationRequest) -> str | None:
    """The level the request asks for: an essential ``acr`` claim request, else the
    ``acr_values`` parameter (§3.1.2.1) and a voluntary ``acr`` claim request."""
    voluntary = (*request.acr_values, *sorted(requested_acr(request.claims)))
    return policy.asked_level(voluntary, essential_acr(request.claims))


async def needed_level(
    services: Deciding,
    client: Client,
    request: AuthorizationRequest,
    signed_in: SignedIn,
    *,
    authenticated_here: bool,
) -> str | None:
    """The level the request (``acr_values``, an essential ``acr`` claim) or, for a session
    reused here, the MFA policy needs (None: any). A sign-in made within this request was
    held to the policy already."""
    asked = asked_level(request)
    reached = level(signed_in)
    if authenticated_here or meets(reached, (ACR_MFA,)):
        return asked
    required = await policy.required(
        services.store,
        services.settings,
        signed_in.user.id,
        client,
        signed_in.access_requires_mfa,
    )
    return policy.stronger(asked, ACR_MFA if required else None)


def _check_level(
    request: AuthorizationRequest, signed_in: SignedIn, needed: str | None, *, can_step_up: bool
) -> bool:
    """Whether a second factor is still owed (True), or the session meets the request;
    raises when the request's requirement cannot be met."""
    reached = level(signed_in)
    essential = essential_acr(request.claims)
    if needed is not None and not meets(reached, (needed,)):
        if can_step_up:
            return True
        if essential is not None:
            # §5.5.1.1: an unmet essential acr is a failed authentication (error name from
            # OpenID Connect Core Unmet Authentication Requirements 1.0 §2).
            raise request.fail("unmet_authentication_requirements", "no requested acr can be met")
        # §3.1.2.6: the level asked for (acr_values, or the MFA policy) was not reached.
        raise request.fail("access_denied", "the authentication level needed was not reached")
    if essential is not None and not meets(reached, essential):
        raise request.fail("unmet_authentication_requirements", "no requested acr value can be met")
    return False


async def next_step(
    services: Deciding,
    client: Client,
    request: AuthorizationRequest,
    signed_in: SignedIn | None,
    *,
    authenticated_here: bool = False,
) -> Step:
    """Raises the prompt=none errors; otherwise says what to show or to issue the code."""
    silent = "none" in request.prompt
    if must_log_in(request, signed_in, authenticated_here=authenticated_here):
        if silent:
            raise request.fail("login_required", "the user must sign in")
        return Step.LOGIN
    assert signed_in is not None
    _check_sub(request, signed_in)
    needed = await needed_level(
        services, client, request, signed_in, authenticated_here=authenticated_here
    )
    can_step_up = not authenticated_here and services.settings.mfa != "off"
    if _check_level(request, signed_in, needed, can_step_up=can_step_up):
        if silent:
            raise request.fail("interaction_required", "a second factor is needed")
        return Step.SECOND_FACTOR
    asks = "consent" in request.prompt or await needs_consent(
        services, client, signed_in.user.id, frozenset(request.scopes)
    )
    if asks:
        if silent:
            raise request.fail("consent_required", "the user must consent")
        return Step.CONSENT
    return Step.ISSUE


def authentication(signed_in: SignedIn, *, authenticated_here: bool) -> Authentication:
    session = signed_in.session
    return Authentication(
        auth_time=session.auth_time,
        acr=level(signed_in),
        amr=list(session.amr),
        sid=session.sid,
    )
