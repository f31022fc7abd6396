"""Refresh token grant with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2)."""

from __future__ import annotations

from typing import Any

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.errors import invalid_grant, invalid_request, invalid_scope
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.scopes import parse_scope
from ostiary.services import Services
from ostiary.tokens.service import Grant, token_response


class RefreshTokenGrant:
    grant_type = "refresh_token"

    async def handle(self, request: TokenRequest, services: Services) -> dict[str, Any]:
        params, client = request.params, request.client
        value = params.get("refresh_token")
        if value is None:
            raise invalid_request("refresh_token is required")
        store = services.store
        token_hash = digest(value)
        token = await store.refresh_tokens.get(token_hash)
        # RFC 6749 §6: the refresh token was issued to the authenticated client.
        if token is None or token.client_id != client.client_id:
            raise invalid_grant("refresh token is invalid")
        if token.revoked_at is not None:
            raise invalid_grant("refresh token was revoked")
        if token.used_at is not None:
            # RFC 9700 §4.14.2: a rotated-out token came back; someone holds a copy.
            await revoke_family(services, token.family_id)
            raise invalid_grant("refresh token was already used; its grant is revoked")
        if token.expires_at <= clock.now():
            raise invalid_grant("refresh token has expired")

        original = frozenset(token.scopes)
        requested = parse_scope(params.get("scope")) if "scope" in params else original
        # RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted.
        if not requested <= original:
            raise invalid_scope("scope exceeds what was originally granted")
        # A client whose registration lost a scope no longer gets it.
        requested &= client.scopes

        if token.user_id is not None:
            user = await store.users.get(token.user_id)
            if user is None or user.disabled:
                await revoke_family(services, token.family_id)
                raise invalid_grant("the user is no longer active")

        if not await store.refresh_tokens.mark_used(token_hash):
            await revoke_family(services, token.family_id)
            raise invalid_grant("refresh token was already used; its grant is revoked")

        subject = token.user_id or client.client_id
        access = await services.tokens.access_token(
            Grant(client, subject, token.user_id, requested, auth_time=token.auth_time)
        )
        # RFC 6749 §6: the new refresh token keeps the scope of the one it replaces.
        refresh, _ = await services.tokens.refresh_token(
            Grant(client, subject, token.user_id, original & client.scopes, token.auth_time),
            access,
            family_id=token.family_id,
        )
        return token_response(access, requested, refresh)


async def revoke_family(services: Services, family_id: str) -> None:
    """Revoke every refresh token of the family and deny the access tokens it issued."""
    revoked = await services.store.refresh_tokens.revoke_family(family_id)
    await services.store.revocations.revoke((r.jti, r.expires_at) for r in revoked)
