"""Is this access token still good? One answer for introspection, UserInfo and the admin API.

A JWT access token is stateless, so "revoked at once, everywhere" is decided here, against
the database: its own id on the deny list, its client deleted or told to drop every token
issued so far, its user disabled or deleted, or the SSO session it came from ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary import clock
from ostiary.domain.clients import Client
from ostiary.domain.tokens import AccessTokenBrief, AccessTokenState
from ostiary.domain.users import User
from ostiary.tokens import jwt_access
from ostiary.tokens.deps import Checking


@dataclass(frozen=True, slots=True)
class LiveToken:
    claims: dict[str, Any]
    client: Client
    user: User | None


@dataclass(frozen=True, slots=True)
class LiveTokenBrief:
    """``LiveToken`` with only the user's name (introspection)."""

    claims: dict[str, Any]
    client: Client
    username: str | None


@dataclass(frozen=True, slots=True)
class _Subject:
    claims: dict[str, Any]
    client: Client
    jti: str
    user_id: str | None
    sid: str | None


async def _verified(services: Checking, token: str) -> _Subject | None:
    """Signature, typ, iss, exp, the client and a client-wide revocation."""
    keys = await services.keys.fresh()
    try:
        claims = await jwt_access.decode(keys, token, issuer=services.settings.issuer)
    except jwt_access.InvalidAccessToken:
        return None
    # The client comes from the per-worker cache, invalidated across workers at once.
    client = await services.store.clients.get(str(claims.get("client_id", "")))
    iat = claims.get("iat")
    if client is None or not isinstance(iat, int) or iat < client.tokens_valid_after:
        return None
    sub = claims.get("sub")
    user_id = str(sub) if sub != client.client_id else None
    sid = claims.get("sid")
    return _Subject(
        claims, client, str(claims["jti"]), user_id, sid if isinstance(sid, str) else None
    )


def _live(subject: _Subject, state: AccessTokenState | AccessTokenBrief) -> bool:
    if state.revoked:
        return False
    # Issued within an SSO session: it ends with the session (logout, expiry, admin).
    if subject.sid is not None and (
        state.session_expires_at is None or state.session_expires_at <= clock.now()
    ):
        return False
    # Issued for a user: it ends with the account (deleted or disabled).
    return subject.user_id is None or state.user_active


async def live_access_token(services: Checking, token: str) -> LiveToken | None:
    subject = await _verified(services, token)
    if subject is None:
        return None
    # Deny list, user and session in one statement.
    state = await services.store.revocations.access_state(subject.jti, subject.user_id, subject.sid)
    return LiveToken(subject.claims, subject.client, state.user) if _live(subject, state) else None


async def live_access_token_brief(services: Checking, token: str) -> LiveTokenBrief | None:
    """The same decision as ``live_access_token``, reading of the user only its name and
    status: a narrower row, all the introspection endpoint needs."""
    subject = await _verified(services, token)
    if subject is None:
        return None
    brief = await services.store.revocations.access_brief(subject.jti, subject.user_id, subject.sid)
    if not _live(subject, brief):
        return None
    return LiveTokenBrief(subject.claims, subject.client, brief.username)
