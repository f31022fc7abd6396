"""Who may provision: a client-credentials Bearer access token of ours with the ``scim``
scope (RFC 6750), checked with the same live-token test as the admin API (revoked or
client cut off: refused at once)."""

from __future__ import annotations

from ostiary.oauth.bearer import authenticate as authenticate_bearer
from ostiary.resource.bearer import single_header
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
        caller = await authenticate_bearer(
            services,
            single_header(authorization),
            audience=services.settings.issuer,
            not_bearer=_not_bearer,
        )
    except ResourceError as error:
        raise _refusal(error) from None
    live = caller.token
    if live.user is not None:
        # Provisioning is a directory's job, not a person's: only a client-credentials
        # token (sub = the client) reaches /scim/v2, whatever scopes a user consented to.
        needs_client = InsufficientScope((SCIM_SCOPE,), "a client credentials token is required")
        raise _refusal(needs_client, "SCIM needs a client credentials token")
    if SCIM_SCOPE not in caller.scopes:
        raise _refusal(InsufficientScope((SCIM_SCOPE,)), "this token lacks the scim scope")
    return f"client:{live.client.client_id}"
