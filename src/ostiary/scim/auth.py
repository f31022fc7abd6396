"""Who may provision: a client-credentials Bearer access token of ours with the ``scim``
scope (RFC 6750), checked with the same live-token test as the admin API (revoked or
client cut off: refused at once)."""

from __future__ import annotations

from ostiary.errors import OAuthError
from ostiary.oauth.scopes import parse_scope
from ostiary.oauth.token_status import live_access_token
from ostiary.resource.bearer import bearer_token, single_header
from ostiary.resource.errors import InsufficientScope, InvalidToken, ResourceError
from ostiary.scim.errors import ScimError
from ostiary.services import Services

SCIM_SCOPE = "scim"
REALM = "ostiary-scim"


def _refusal(error: ResourceError, detail: str | None = None) -> ScimError:
    """An RFC 6750 §3 refusal as a SCIM error (RFC 7644 §3.12: a 400 names its scimType)."""
    return ScimError(
        error.status,
        detail or error.description or "a Bearer access token is required",
        "invalidSyntax" if error.status == 400 else None,
        headers={"WWW-Authenticate": error.challenge(REALM)},
    )


def _not_bearer() -> InvalidToken:
    return InvalidToken("the Authorization header is not a Bearer token")


async def authenticate(services: Services, authorization: list[str]) -> str:
    """The audit actor of a valid caller, or a 400/401/403 ScimError."""
    try:
        token = bearer_token(single_header(authorization), not_bearer=_not_bearer)
    except ResourceError as error:
        raise _refusal(error) from None
    live = await live_access_token(services, token)
    if live is None:
        raise _refusal(InvalidToken("the access token is invalid, expired or revoked"))
    claims = live.claims
    # RFC 9068 §4: the token must be meant for us.
    aud = claims.get("aud")
    if services.settings.issuer not in (aud if isinstance(aud, list) else [aud]):
        raise _refusal(InvalidToken("the access token is not meant for this API"))
    scope = claims.get("scope")
    try:
        scopes = parse_scope(scope) if isinstance(scope, str) else frozenset()
    except OAuthError:
        scopes = frozenset()
    if live.user is not None:
        # Provisioning is a directory's job, not a person's: only a client-credentials
        # token (sub = the client) reaches /scim/v2, whatever scopes a user consented to.
        needs_client = InsufficientScope((SCIM_SCOPE,), "a client credentials token is required")
        raise _refusal(needs_client, "SCIM needs a client credentials token")
    if SCIM_SCOPE not in scopes:
        raise _refusal(InsufficientScope((SCIM_SCOPE,)), "this token lacks the scim scope")
    return f"client:{live.client.client_id}"
