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
    if await store.revocations.is_revoked(claims["jti"]):
        return None
    client = await store.clients.get(str(claims.get("client_id", "")))
    iat = claims.get("iat")
    if client is None or not isinstance(iat, int) or iat < client.tokens_valid_after:
        return None
    user = None
    sub = claims.get("sub")
    if sub != client.client_id:
        user = await store.users.get(str(sub))
        if user is None or user.disabled:
            return None
    sid = claims.get("sid")
    if isinstance(sid, str):
        # Issued within an SSO session: it ends with the session (logout, expiry, admin).
        session = await store.sessions.by_sid(sid)
        if session is None or session.expires_at <= clock.now():
            return None
    return LiveToken(claims, client, user)
