"""Token introspection (RFC 7662), for authenticated confidential clients only."""

from __future__ import annotations

from typing import Any

from ostiary import clock
from ostiary.crypto.tokens import REFRESH_TOKEN_PREFIX, digest
from ostiary.domain.clients import Client
from ostiary.domain.scopes import format_scope
from ostiary.errors import invalid_client, invalid_request
from ostiary.oauth.client_auth.guard import authenticate
from ostiary.oauth.deps import EndpointDeps
from ostiary.oauth.params import parse_params
from ostiary.oauth.token_status import live_access_token_brief
from ostiary.resource.client_cert import ClientCertificate
from ostiary.tokens import jwt_access

INACTIVE: dict[str, Any] = {"active": False}


async def introspect(
    services: EndpointDeps,
    body: bytes,
    authorization: str | None,
    ip: str | None = None,
    certificate: ClientCertificate | None = None,
) -> dict[str, Any]:
    params = parse_params(body)
    caller = await authenticate(services, params, authorization, ip, certificate)
    # RFC 7662 §2.1 / §4: the endpoint MUST require authorization; public clients
    # cannot prove who they are, so they may not probe tokens.
    if caller.public:
        raise invalid_client("public clients may not introspect tokens")
    value = params.get("token")
    if value is None:
        raise invalid_request("token is required")

    if value.startswith(REFRESH_TOKEN_PREFIX):
        return await _refresh_token(services, value, caller)
    if jwt_access.looks_like_jwt(value):
        return await _access_token(services, value)
    return INACTIVE


async def _access_token(services: EndpointDeps, value: str) -> dict[str, Any]:
    live = await live_access_token_brief(services, value)
    if live is None:
        return INACTIVE
    claims = live.claims
    # RFC 9449 §6.2: a DPoP-bound token is introspected with its cnf and type DPoP; RFC
    # 8705 §3.2: a certificate-bound one with its cnf (x5t#S256), a Bearer token still.
    bound = isinstance(claims.get("cnf"), dict) and "jkt" in claims["cnf"]
    response: dict[str, Any] = {"active": True, "token_type": "DPoP" if bound else "Bearer"}
    fields = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "auth_time", "cnf")
    for name in fields:
        if name in claims:
            response[name] = claims[name]
    if live.username is not None:
        response["username"] = live.username
    return response


async def _refresh_token(services: EndpointDeps, value: str, caller: Client) -> dict[str, Any]:
    # One statement: the token, its user and its session.
    token = await services.store.refresh_tokens.introspected(digest(value))
    if token is None:
        return INACTIVE
    # Refresh tokens are only ever shown to the client that holds them (RFC 7662 §2.2:
    # a token the caller may not see is reported inactive). Active means the token
    # endpoint would accept it: the same checks as the refresh grant.
    now = clock.now()
    if (
        token.client_id != caller.client_id
        or token.spent
        or token.expires_at <= now
        or token.created_at < caller.tokens_valid_after
        or token.user_inactive
        or token.session_ended(now)
    ):
        return INACTIVE
    response: dict[str, Any] = {
        "active": True,
        "token_type": "refresh_token",
        "client_id": token.client_id,
        "exp": token.expires_at,
        "iat": token.created_at,
        "iss": services.settings.issuer,
        "sub": token.user_id or token.client_id,
    }
    if token.scopes:
        response["scope"] = format_scope(token.scopes)
    if token.username is not None:
        response["username"] = token.username
    return response
