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


def _ended(subject: _Subject, session_expires_at: int | None) -> bool:
    # Issued within an SSO session: it ends with the session (logout, expiry, admin).
    return subject.sid is not None and (
        session_expires_at is None or session_expires_at <= clock.now()
    )


async def live_access_token(services: Checking, token: str) -> LiveToken | None:
    subject = await _verified(services, token)
    if subject is None:
        return None
    # Deny list, user and session in one statement.
    state = await services.store.revocations.access_state(subject.jti, subject.user_id, subject.sid)
    if state.revoked or _ended(subject, state.session_expires_at):
        return None
    if subject.user_id is not None and (state.user is None or state.user.disabled):
        return None
    return LiveToken(subject.claims, subject.client, state.user)


async def live_access_token_brief(services: Checking, token: str) -> LiveTokenBrief | None:
    """The same decision as ``live_access_token``, reading of the user only its name and
    status: a narrower row, all the introspection endpoint needs."""
    subject = await _verified(services, token)
    if subject is None:
        return None
    brief = await services.store.revocations.access_brief(subject.jti, subject.user_id, subject.sid)
    if brief.revoked or _ended(subject, brief.session_expires_at):
        return None
    if subject.user_id is not None and (brief.username is None or brief.user_disabled):
        return None
    return LiveTokenBrief(subject.claims, subject.client, brief.username)
