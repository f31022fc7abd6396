"""What an authorization request needs next: login, consent, or nothing (OIDC §3.1.2.1)."""

from __future__ import annotations

from enum import Enum

from ostiary import clock
from ostiary.accounts.signin import SignedIn
from ostiary.domain.clients import Client
from ostiary.oauth.authorize import AuthorizationRequest
from ostiary.oauth.consent import needs_consent
from ostiary.tokens.claims import essential_acr, requested_sub
from ostiary.tokens.deps import HasStore
from ostiary.tokens.id_token import Authentication

# acr values in the manner of Keycloak: "1" the user authenticated during this request,
# "0" an existing SSO session was reused.
ACR_FRESH = "1"
ACR_SSO = "0"


class Step(Enum):
    LOGIN = "login"
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
    for named in (request.id_token_hint_sub, requested_sub(request.claims)):
        if named is not None and named != signed_in.user.id:
            return True
    # §5.5.1.1: an essential acr of "1" is not met by a reused SSO session.
    wanted = essential_acr(request.claims)
    return (
        wanted is not None
        and ACR_FRESH in wanted
        and not _meets(_acr(signed_in, authenticated_here=False), wanted)
    )


def _acr(signed_in: SignedIn, *, authenticated_here: bool) -> str:
    # An upstream provider's acr (federation) is carried as it was given.
    return signed_in.session.acr or (ACR_FRESH if authenticated_here else ACR_SSO)


def _meets(acr: str, wanted: frozenset[str]) -> bool:
    # Levels in the manner of Keycloak: a fresh login ("1") also meets a request for "0".
    return acr in wanted or (acr == ACR_FRESH and ACR_SSO in wanted)


def _check_authentication(
    request: AuthorizationRequest, signed_in: SignedIn, *, authenticated_here: bool
) -> None:
    """After any login: the request's essential requirements hold, or it fails."""
    named = requested_sub(request.claims)
    if named is not None and named != signed_in.user.id:
        # §3.1.2.2: a positive response only for the End-User the sub value names.
        raise request.fail("access_denied", "the signed-in user is not the one requested")
    wanted = essential_acr(request.claims)
    if wanted is not None and not _meets(
        _acr(signed_in, authenticated_here=authenticated_here), wanted
    ):
        # §5.5.1.1: unmet essential acr is a failed authentication (error name from
        # OpenID Connect Core Unmet Authentication Requirements 1.0 §2).
        raise request.fail("unmet_authentication_requirements", "no requested acr value can be met")


async def next_step(
    services: HasStore,
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
    _check_authentication(request, signed_in, authenticated_here=authenticated_here)
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
        acr=_acr(signed_in, authenticated_here=authenticated_here),
        amr=list(session.amr),
        sid=session.sid,
    )
