"""UserInfo endpoint (OIDC Core §5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary.errors import OAuthError
from ostiary.oauth.bearer import is_b64token
from ostiary.oauth.params import parse_params
from ostiary.oauth.token_status import live_access_token
from ostiary.oidc import claims as claims_module
from ostiary.services import Services


@dataclass
class BearerError(Exception):
    """RFC 6750 §3: what goes into WWW-Authenticate, and the status."""

    status: int
    error: str | None = None
    description: str | None = None
    scope: str | None = None

    def challenge(self) -> str:
        parts = ['realm="ostiary"']
        if self.error:
            parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)


def bearer_token(authorization: str | None, body: bytes | None, content_type: str) -> str:
    """RFC 6750 §2.1 header or §2.2 form body; exactly one method (§2)."""
    from_header = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError(400, "invalid_request", "use the Bearer scheme")
        from_header = value.strip()
    from_body = None
    if body and content_type.split(";", 1)[0].strip().lower() == (
        "application/x-www-form-urlencoded"
    ):
        try:
            from_body = parse_params(body).get("access_token")
        except OAuthError:
            raise BearerError(400, "invalid_request", "malformed form body") from None
    if from_header and from_body:
        raise BearerError(400, "invalid_request", "send the token one way only")
    token = from_header or from_body
    if not token:
        # RFC 6750 §3.1: no credentials at all → a challenge without an error code.
        raise BearerError(401)
    if not is_b64token(token):
        # RFC 6750 §3.1: a malformed request is invalid_request (400).
        raise BearerError(400, "invalid_request", "the token is not a valid Bearer token")
    return token


async def userinfo(services: Services, token: str) -> dict[str, Any]:
    live = await live_access_token(services, token)
    if live is None:
        raise BearerError(401, "invalid_token", "the access token is invalid, expired or revoked")
    scopes = frozenset(str(live.claims.get("scope", "")).split())
    # OIDC Core §5.3.1: UserInfo answers only tokens granted the openid scope.
    if "openid" not in scopes:
        raise BearerError(403, "insufficient_scope", "the token lacks openid", scope="openid")
    if live.user is None:
        raise BearerError(401, "invalid_token", "the access token names no user")
    requested = {name: None for name in live.claims.get("userinfo_claims", [])}
    return claims_module.release(live.user, scopes, requested)
