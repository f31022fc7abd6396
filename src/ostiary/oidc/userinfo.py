"""UserInfo endpoint (OIDC Core §5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from typing import Any

from ostiary.errors import OAuthError
from ostiary.oauth.bearer import DPoPRequest, authenticate
from ostiary.oauth.params import parse_params
from ostiary.resource.errors import InsufficientScope, InvalidRequest, InvalidToken
from ostiary.tokens import claims as claims_module
from ostiary.tokens.deps import Checking

REALM = "ostiary"
FORM = "application/x-www-form-urlencoded"


def _not_bearer() -> InvalidRequest:
    return InvalidRequest("use the Bearer scheme")


def form_token(body: bytes | None, content_type: str) -> str | None:
    """The ``access_token`` of a form-encoded body (RFC 6750 §2.2), if there is one."""
    if not body or content_type.split(";", 1)[0].strip().lower() != FORM:
        return None
    try:
        return parse_params(body).get("access_token")
    except OAuthError:
        raise InvalidRequest("malformed form body") from None


async def userinfo(
    services: Checking,
    authorization: str | None,
    body_token: str | None,
    dpop: DPoPRequest | None = None,
) -> dict[str, Any]:
    """The claims of the token's user; refusals are ``ResourceError``s, and a header in
    another scheme (but DPoP, with ``dpop``: RFC 9449 §7) is invalid_request."""
    caller = await authenticate(
        services,
        authorization,
        audience=None,
        form_token=body_token,
        not_bearer=_not_bearer,
        dpop=dpop,
    )
    # OIDC Core §5.3.1: UserInfo answers only tokens granted the openid scope.
    if "openid" not in caller.scopes:
        raise InsufficientScope(("openid",), "the token lacks openid")
    live = caller.token
    if live.user is None:
        raise InvalidToken("the access token names no user")
    requested = {name: None for name in live.claims.get("userinfo_claims", [])}
    return claims_module.release(live.user, caller.scopes, requested)
