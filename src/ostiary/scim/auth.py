"""Who may provision: a client-credentials Bearer access token of ours with the ``scim``
scope (RFC 6750), checked with the same live-token test as the admin API (revoked or
client cut off: refused at once)."""

from __future__ import annotations

from ostiary.errors import OAuthError
from ostiary.oauth.bearer import is_b64token
from ostiary.oauth.scopes import parse_scope
from ostiary.oauth.token_status import live_access_token
from ostiary.scim.errors import ScimError
from ostiary.services import Services

SCIM_SCOPE = "scim"
REALM = "ostiary-scim"


def _challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    params = {"realm": REALM}
    if error:
        params["error"] = error
    if description:
        params["error_description"] = description
    if error == "insufficient_scope":
        params["scope"] = SCIM_SCOPE
    value = "Bearer " + ", ".join(f'{k}="{v}"' for k, v in params.items())
    return {"WWW-Authenticate": value}


def _invalid(description: str) -> ScimError:
    # RFC 6750 §3.1.
    return ScimError(401, description, headers=_challenge("invalid_token", description))


async def authenticate(services: Services, authorization: list[str]) -> str:
    """The audit actor of a valid caller, or a 401/403 ScimError."""
    if not authorization:
        return _raise(ScimError(401, "a Bearer access token is required", headers=_challenge()))
    if len(authorization) > 1:
        raise ScimError(400, "more than one Authorization header", "invalidSyntax")
    scheme, _, token = authorization[0].strip().partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer" or not token.strip():
        raise _invalid("the Authorization header is not a Bearer token")
    if not is_b64token(token.strip()):
        # RFC 6750 §3.1: a token outside the §2.1 syntax is a malformed request (400).
        description = "the token is not a valid Bearer token"
        raise ScimError(
            400, description, "invalidSyntax", headers=_challenge("invalid_request", description)
        )
    live = await live_access_token(services, token.strip())
    if live is None:
        raise _invalid("the access token is invalid, expired or revoked")
    claims = live.claims
    # RFC 9068 §4: the token must be meant for us.
    aud = claims.get("aud")
    if services.settings.issuer not in (aud if isinstance(aud, list) else [aud]):
        raise _invalid("the access token is not meant for this API")
    scope = claims.get("scope")
    try:
        scopes = parse_scope(scope) if isinstance(scope, str) else frozenset()
    except OAuthError:
        scopes = frozenset()
    if live.user is not None:
        # Provisioning is a directory's job, not a person's: only a client-credentials
        # token (sub = the client) reaches /scim/v2, whatever scopes a user consented to.
        raise ScimError(
            403,
            "SCIM needs a client credentials token",
            headers=_challenge("insufficient_scope", "a client credentials token is required"),
        )
    if SCIM_SCOPE not in scopes:
        raise ScimError(
            403,
            "this token lacks the scim scope",
            headers=_challenge("insufficient_scope", "the token lacks the required scope"),
        )
    return f"client:{live.client.client_id}"


def _raise(error: ScimError) -> str:
    raise error
