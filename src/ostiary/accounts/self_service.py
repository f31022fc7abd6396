"""What a signed-in person may do to their own account, without HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, update

from ostiary import clock
from ostiary.accounts import logout, recovery
from ostiary.accounts.signin import SignedIn
from ostiary.services import Services
from ostiary.storage.tables import clients, consents
from ostiary.storage.tables import refresh_tokens as rt


@dataclass(frozen=True, slots=True)
class SessionView:
    sid: str
    created_at: int
    auth_time: int
    expires_at: int
    amr: tuple[str, ...]
    clients: tuple[str, ...]
    current: bool


@dataclass(frozen=True, slots=True)
class ApplicationView:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    granted_at: int


async def _client_names(services: Services, client_ids: list[str]) -> tuple[str, ...]:
    names = []
    for client_id in client_ids:
        client = await services.store.clients.get(client_id)
        names.append(client.name if client else client_id)
    return tuple(sorted(names))


async def sessions_of(services: Services, signed_in: SignedIn) -> list[SessionView]:
    """The user's live SSO sessions, this one first, then the newest."""
    found = []
    for s in await services.store.sessions.for_user(signed_in.user.id):
        names = await _client_names(services, await services.store.sessions.clients_of(s.sid))
        current = s.sid == signed_in.session.sid
        found.append(
            SessionView(s.sid, s.created_at, s.auth_time, s.expires_at, s.amr, names, current)
        )
    return sorted(found, key=lambda v: (not v.current, -v.created_at))


async def end_session(services: Services, signed_in: SignedIn, sid: str) -> bool:
    """End one of the user's other sessions (back-channel logout included)."""
    session = await services.store.sessions.by_sid(sid)
    if session is None or session.user_id != signed_in.user.id:
        return False
    if session.sid == signed_in.session.sid:
        return False
    await logout.end_session(services, session)
    await _audit_sessions_ended(services, signed_in, 1)
    return True


async def end_other_sessions(services: Services, signed_in: SignedIn) -> int:
    ended = 0
    for session in await services.store.sessions.for_user(signed_in.user.id):
        if session.sid != signed_in.session.sid:
            await logout.end_session(services, session)
            ended += 1
    await _audit_sessions_ended(services, signed_in, ended)
    return ended


async def _audit_sessions_ended(services: Services, signed_in: SignedIn, count: int) -> None:
    await services.audit.record(
        "session.ended_by_user",
        actor=f"user:{signed_in.user.id}",
        user_id=signed_in.user.id,
        details={"count": count},
    )


async def applications_of(services: Services, user_id: str) -> list[ApplicationView]:
    """The applications the user has consented to, with the scopes allowed."""
    stmt = (
        select(consents.c.client_id, consents.c.scopes, consents.c.updated_at, clients.c.name)
        .join(clients, clients.c.client_id == consents.c.client_id)
        .where(consents.c.user_id == user_id)
        .order_by(clients.c.name)
    )
    async with services.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        ApplicationView(r.client_id, r.name, tuple(sorted(r.scopes)), r.updated_at) for r in rows
    ]


async def revoke_application(services: Services, user_id: str, client_id: str) -> bool:
    """Forget the consent and revoke the refresh tokens the client holds for this user.

    The next authorization request asks for consent again; access tokens issued with the
    revoked refresh tokens go on the deny list.
    """
    if await services.store.consents.granted(user_id, client_id) is None:
        return False
    await services.store.consents.revoke(user_id, client_id)
    revoked = await revoke_refresh_tokens(
        services, rt.c.user_id == user_id, rt.c.client_id == client_id
    )
    await services.audit.record(
        "consent.revoked",
        actor=f"user:{user_id}",
        user_id=user_id,
        client_id=client_id,
        details={"refresh_grants_revoked": revoked},
    )
    return True


async def revoke_refresh_tokens(services: Services, *conditions: ColumnElement[bool]) -> int:
    """Revoke the matching refresh tokens and deny the access tokens issued with them."""
    now = clock.now()
    async with services.engine.begin() as conn:
        result = await conn.execute(
            update(rt).where(*conditions, rt.c.revoked_at.is_(None)).values(revoked_at=now)
        )
        rows = (
            await conn.execute(
                select(rt.c.access_jti, rt.c.access_expires_at).where(
                    *conditions, rt.c.access_jti.is_not(None), rt.c.access_expires_at > now
                )
            )
        ).all()
    await services.store.revocations.revoke((r.access_jti, r.access_expires_at) for r in rows)
    return result.rowcount


async def change_password(services: Services, signed_in: SignedIn, new_hash: str) -> int:
    """Set the new password; every other session ends and every refresh token not bound
    to this session is revoked (offline ones too: a change often follows a suspected
    compromise). Returns how many sessions ended."""
    user_id, sid = signed_in.user.id, signed_in.session.sid
    await services.store.users.set_password_hash(user_id, new_hash)
    await services.store.one_time_tokens.drop_for_user(user_id, recovery.RESET)
    ended = 0
    for session in await services.store.sessions.for_user(user_id):
        if session.sid != sid:
            await logout.end_session(services, session)
            ended += 1
    revoked = await revoke_refresh_tokens(
        services, rt.c.user_id == user_id, or_(rt.c.sid.is_(None), rt.c.sid != sid)
    )
    await services.audit.record(
        "password.changed",
        actor=f"user:{user_id}",
        user_id=user_id,
        details={"sessions_ended": ended, "refresh_grants_revoked": revoked},
    )
    return ended
