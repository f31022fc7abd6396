"""Refresh token grant with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2)."""

from __future__ import annotations

from typing import Any

from ostiary import clock
from ostiary.accounts import access as rbac
from ostiary.crypto.tokens import digest
from ostiary.errors import invalid_grant, invalid_request, invalid_scope
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.scopes import parse_scope
from ostiary.oidc import id_token
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
        # The client was told to drop everything it held (or its id was registered anew).
        if token.created_at < client.tokens_valid_after:
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

        user = None
        if token.user_id is not None:
            user = await store.users.get(token.user_id)
            if user is None or user.disabled:
                await revoke_family(services, token.family_id)
                raise invalid_grant("the user is no longer active")
        if token.sid is not None:
            # A session-bound token lives only as long as its SSO session.
            session = await store.sessions.by_sid(token.sid)
            if session is None or session.expires_at <= clock.now():
                await revoke_family(services, token.family_id)
                raise invalid_grant("the session of this refresh token has ended")

        if not await store.refresh_tokens.mark_used(token_hash):
            await revoke_family(services, token.family_id)
            raise invalid_grant("refresh token was already used; its grant is revoked")

        extra = None
        if user is not None:
            # Roles are checked again at every refresh: a role taken away takes its scope.
            requested, extra = await rbac.for_token(services, client, user.id, requested)
        subject = token.user_id or client.client_id
        context = {
            "auth_time": token.auth_time,
            "sid": token.sid,
            "acr": token.acr,
            "amr": token.amr,
            "claims": token.claims,
            "extra": extra,
        }
        access = await services.tokens.access_token(
            Grant(client, subject, token.user_id, requested, **context)
        )
        # RFC 6749 §6: the new refresh token keeps the scope of the one it replaces.
        refresh, _ = await services.tokens.refresh_token(
            Grant(client, subject, token.user_id, original & client.scopes, **context),
            access,
            family_id=token.family_id,
            sid=token.sid,
        )
        # A reuse racing this rotation revoked the family; whichever ran second sees the
        # other's write, so the token just issued never outlives the revocation.
        rotated = await store.refresh_tokens.get(token_hash)
        if rotated is None or rotated.revoked_at is not None:
            await revoke_family(services, token.family_id)
            raise invalid_grant("refresh token was already used; its grant is revoked")
        issued_id_token = None
        if user is not None and "openid" in requested:
            # OIDC Core §12.2: a refreshed ID token keeps sub, auth_time; no nonce.
            issued_id_token = await id_token.issue(
                services,
                client,
                user,
                requested,
                id_token.Authentication(token.auth_time or 0, token.acr, token.amr, token.sid),
                nonce=None,
                access_token=access.token,
                requested=(token.claims or {}).get("id_token"),
                extra=extra,
            )
        services.audit.later(
            "token.refreshed",
            actor=f"client:{client.client_id}",
            user_id=token.user_id,
            client_id=client.client_id,
            details={"scope": " ".join(sorted(requested))},
        )
        return token_response(access, requested, refresh, issued_id_token)


async def revoke_family(services: Services, family_id: str) -> None:
    """Revoke every refresh token of the family and deny the access tokens it issued."""
    revoked = await services.store.refresh_tokens.revoke_family(family_id)
    await services.store.revocations.revoke((r.jti, r.expires_at) for r in revoked)
