"""Is this access token still good? One answer for introspection, UserInfo and the admin API.

A JWT access token is stateless, so "revoked at once, everywhere" is decided here, against
the database: its own id on the deny list, its client deleted or told to drop every token
issued so far, its user disabled or deleted, or the SSO session it came from ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary import clock
from ostiary.services import Services
from ostiary.storage.repos.clients import Client
from ostiary.storage.repos.users import User
from ostiary.tokens import jwt_access


@dataclass(frozen=True, slots=True)
class LiveToken:
    claims: dict[str, Any]
    client: Client
    user: User | None


async def live_access_token(services: Services, token: str) -> LiveToken | None:
    keys = await services.keys.fresh()
    try:
        claims = await jwt_access.decode(keys, token, issuer=services.settings.issuer)
    except jwt_access.InvalidAccessToken:
        return None
    store = services.store
    # The client comes from the per-worker cache, invalidated across workers at once.
    client = await store.clients.get(str(claims.get("client_id", "")))
    iat = claims.get("iat")
    if client is None or not isinstance(iat, int) or iat < client.tokens_valid_after:
        return None
    sub = claims.get("sub")
    user_id = str(sub) if sub != client.client_id else None
    sid = claims.get("sid")
    sid = sid if isinstance(sid, str) else None
    # Deny list, user and session in one statement.
    state = await store.revocations.access_state(str(claims["jti"]), user_id, sid)
    if state.revoked:
        return None
    if user_id is not None and (state.user is None or state.user.disabled):
        return None
    # Issued within an SSO session: it ends with the session (logout, expiry, admin).
    if sid is not None and (
        state.session_expires_at is None or state.session_expires_at <= clock.now()
    ):
        return None
    return LiveToken(claims, client, state.user)
