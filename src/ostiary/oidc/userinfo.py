"""UserInfo endpoint (OIDC Core §5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from typing import Any

from ostiary.errors import OAuthError
from ostiary.oauth.params import parse_params
from ostiary.oauth.token_status import live_access_token
from ostiary.oidc import claims as claims_module
from ostiary.resource.bearer import request_token
from ostiary.resource.errors import InsufficientScope, InvalidRequest, InvalidToken
from ostiary.services import Services

REALM = "ostiary"
FORM = "application/x-www-form-urlencoded"


def _not_bearer() -> InvalidRequest:
    return InvalidRequest("use the Bearer scheme")


def bearer_token(authorization: str | None, body: bytes | None, content_type: str) -> str:
    """RFC 6750 §2.1 header or §2.2 form body; exactly one method (§2). Refusals are the
    resource kit's ``ResourceError``s; a header in another scheme is invalid_request."""
    form_token = None
    if body and content_type.split(";", 1)[0].strip().lower() == FORM:
        try:
            form_token = parse_params(body).get("access_token")
        except OAuthError:
            raise InvalidRequest("malformed form body") from None
    return request_token(authorization, form_token, not_bearer=_not_bearer)


async def userinfo(services: Services, token: str) -> dict[str, Any]:
    live = await live_access_token(services, token)
    if live is None:
        raise InvalidToken("the access token is invalid, expired or revoked")
    scopes = frozenset(str(live.claims.get("scope", "")).split())
    # OIDC Core §5.3.1: UserInfo answers only tokens granted the openid scope.
    if "openid" not in scopes:
        raise InsufficientScope(("openid",), "the token lacks openid")
    if live.user is None:
        raise InvalidToken("the access token names no user")
    requested = {name: None for name in live.claims.get("userinfo_claims", [])}
    return claims_module.release(live.user, scopes, requested)
