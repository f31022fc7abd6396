"""Refresh token grant with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14.2)."""

from __future__ import annotations

from typing import Any

from ostiary import clock
from ostiary.crypto.tokens import digest
from ostiary.errors import invalid_grant, invalid_request, invalid_scope
from ostiary.oauth import resource_indicators
from ostiary.oauth.deps import GrantDeps
from ostiary.oauth.grants import roles
from ostiary.oauth.grants.base import TokenRequest
from ostiary.oauth.grants.finish import respond
from ostiary.oauth.scopes import parse_scope
from ostiary.resource.client_cert import X5T_S256
from ostiary.tokens.service import Grant


class RefreshTokenGrant:
    grant_type = "refresh_token"

    async def handle(self, request: TokenRequest, services: GrantDeps) -> dict[str, Any]:
        params, client = request.params, request.client
        value = params.get("refresh_token")
        if value is None:
            raise invalid_request("refresh_token is required")
        store = services.store
        token_hash = digest(value)
        # One statement (one round trip, not three): the token, its user and its session.
        state = await store.refresh_tokens.state(token_hash)
        token = state.token if state is not None else None
        # RFC 6749 §6: the refresh token was issued to the authenticated client.
        if state is None or token is None or token.client_id != client.client_id:
            raise invalid_grant("refresh token is invalid")
        if token.revoked_at is not None:
            raise invalid_grant("refresh token was revoked")
        # The client was told to drop everything it held (or its id was registered anew).
        if token.created_at < client.tokens_valid_after:
            raise invalid_grant("refresh token was revoked")
        if token.used_at is not None:
            # RFC 9700 §4.14.2: a rotated-out token came back; someone holds a copy.
            await revoke_family(services, token.family_id)
            await audit_reuse(services, client.client_id, token.user_id, token.family_id)
            raise invalid_grant("refresh token was already used; its grant is revoked")
        now = clock.now()
        if token.expires_at <= now:
            raise invalid_grant("refresh token has expired")
        bound = (token.cnf or {}).get("jkt")
        # RFC 9449 §5: a refresh token bound to a DPoP key is used only with a proof by it.
        if bound is not None and request.jkt != bound:
            raise invalid_grant("the DPoP proof is not signed by the key the token is bound to")
        certificate = (token.cnf or {}).get(X5T_S256)
        # RFC 8705 §4: a public client's refresh token bound to its certificate is used
        # only over mutual TLS with that certificate.
        if certificate is not None and request.x5t != certificate:
            raise invalid_grant("the refresh token is bound to another client certificate")

        original = frozenset(token.scopes)
        requested = parse_scope(params.get("scope")) if "scope" in params else original
        # RFC 6749 §6: the requested scope MUST NOT include any scope not originally granted.
        if not requested <= original:
            raise invalid_scope("scope exceeds what was originally granted")
        # A client whose registration lost a scope no longer gets it.
        requested &= client.scopes

        if state.user_inactive():
            await revoke_family(services, token.family_id)
            raise invalid_grant("the user is no longer active")
        # A session-bound token lives only as long as its SSO session.
        if state.session_ended(now):
            await revoke_family(services, token.family_id)
            raise invalid_grant("the session of this refresh token has ended")
        user = state.user

        extra = None
        if user is not None:
            # Roles are checked again at every refresh: a role taken away takes its scope.
            requested, extra = await roles.for_token(
                services, client, user.id, requested, state.gates
            )
        # RFC 8707 §2.2: resources beyond the token's are refused; fewer downscope this
        # access token, while the successor keeps them all.
        target = await resource_indicators.for_token(
            store.resources, params, requested, granted=tuple(token.resources or ())
        )
        subject = token.user_id or client.client_id
        # Grant's keyword fields, the same for the access token and the successor.
        context: dict[str, Any] = {
            "target": target,
            "auth_time": token.auth_time,
            "sid": token.sid,
            "acr": token.acr,
            "amr": token.amr,
            "claims": token.claims,
            "extra": extra,
            "jkt": request.jkt,
            "x5t": request.x5t,
        }
        grant = Grant(client, subject, token.user_id, requested, **context)
        access = await services.tokens.access_token(grant)
        # RFC 6749 §6: the new refresh token keeps the scope of the one it replaces.
        refresh, successor = services.tokens.new_refresh_token(
            Grant(client, subject, token.user_id, original & client.scopes, **context),
            access,
            family_id=token.family_id,
            sid=token.sid,
        )
        # Single use, exact across nodes: the old token is claimed and its successor stored
        # in one statement; a reuse or family revocation racing it is ordered by the row
        # lock (see RefreshTokenRepository.rotate), so the new token never outlives it.
        if not await store.refresh_tokens.rotate(token_hash, successor):
            await revoke_family(services, token.family_id)
            await audit_reuse(services, client.client_id, token.user_id, token.family_id)
            raise invalid_grant("refresh token was already used; its grant is revoked")
        # OIDC Core §12.2: a refreshed ID token keeps sub, auth_time; no nonce.
        return await respond(
            services, grant, access, event="token.refreshed", user=user, refresh_token=refresh
        )


async def audit_reuse(
    services: GrantDeps, client_id: str, user_id: str | None, family_id: str
) -> None:
    """A security event: someone holds a copy of a refresh token (RFC 9700 §4.14.2)."""
    await services.audit.record(
        "refresh_token.reuse_detected",
        actor=f"client:{client_id}",
        user_id=user_id,
        client_id=client_id,
        outcome="failure",
        reason="reuse",
        details={"family": family_id},
    )


async def revoke_family(services: GrantDeps, family_id: str) -> None:
    """Revoke every refresh token of the family and deny the access tokens it issued."""
    revoked = await services.store.refresh_tokens.revoke_family(family_id)
    await services.store.revocations.revoke((r.jti, r.expires_at) for r in revoked)
