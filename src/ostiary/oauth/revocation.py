"""Token revocation (RFC 7009)."""

from __future__ import annotations

from ostiary.crypto.tokens import REFRESH_TOKEN_PREFIX, digest
from ostiary.errors import OAuthError, invalid_request
from ostiary.oauth.client_auth.guard import authenticate
from ostiary.oauth.deps import EndpointDeps
from ostiary.oauth.grants.refresh_token import revoke_family
from ostiary.oauth.params import parse_params
from ostiary.resource.client_cert import ClientCertificate
from ostiary.tokens import jwt_access

_HINTS = {"access_token", "refresh_token"}


async def revoke(
    services: EndpointDeps,
    body: bytes,
    authorization: str | None,
    ip: str | None = None,
    certificate: ClientCertificate | None = None,
) -> None:
    """Revoke a token the calling client holds. Unknown tokens are not an error (§2.2)."""
    params = parse_params(body)
    client = await authenticate(services, params, authorization, ip, certificate)
    value = params.get("token")
    if value is None:
        raise invalid_request("token is required")
    hint = params.get("token_type_hint")
    if hint is not None and hint not in _HINTS:
        # RFC 7009 §2.2.1: a hint we do not know is unsupported_token_type.
        raise OAuthError("unsupported_token_type", f"token_type_hint '{hint}' is not supported")

    # The hint only speeds the lookup (§2.1); the token's shape decides.
    if value.startswith(REFRESH_TOKEN_PREFIX):
        token = await services.store.refresh_tokens.get(digest(value))
        if token is not None and token.client_id == client.client_id:
            # §2.1: revoking a refresh token SHOULD also invalidate the access tokens
            # of the same grant: the whole rotation family goes.
            await revoke_family(services, token.family_id)
            await services.audit.record(
                "token.revoked",
                actor=f"client:{client.client_id}",
                user_id=token.user_id,
                client_id=client.client_id,
                details={"token_type": "refresh_token", "family": token.family_id},
            )
        return
    if jwt_access.looks_like_jwt(value):
        keys = await services.keys.fresh()
        try:
            claims = await jwt_access.decode(
                keys, value, issuer=services.settings.issuer, allow_expired=True
            )
        except jwt_access.InvalidAccessToken:
            return
        # §2.1: only the client the token was issued to may revoke it.
        if claims.get("client_id") == client.client_id:
            await services.store.revocations.revoke([(claims["jti"], claims["exp"])])
            await services.audit.record(
                "token.revoked",
                actor=f"client:{client.client_id}",
                user_id=claims["sub"] if claims.get("sub") != client.client_id else None,
                client_id=client.client_id,
                details={"token_type": "access_token", "jti": claims["jti"]},
            )
