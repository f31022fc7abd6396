"""What a signed-in person may do to their own account, without HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.accounts import logout, recovery
from ostiary.accounts.deps import AccountDeps
from ostiary.accounts.signin import SignedIn
from ostiary.storage.queries.accounts import ConsentedApplication


@dataclass(frozen=True, slots=True)
class SessionView:
    sid: str
    created_at: int
    auth_time: int
    expires_at: int
    amr: tuple[str, ...]
    clients: tuple[str, ...]
    current: bool


async def _client_names(services: AccountDeps, client_ids: list[str]) -> tuple[str, ...]:
    names = []
    for client_id in client_ids:
        client = await services.store.clients.get(client_id)
        names.append(client.name if client else client_id)
    return tuple(sorted(names))


async def sessions_of(services: AccountDeps, signed_in: SignedIn) -> list[SessionView]:
    """The user's live SSO sessions, this one first, then the newest."""
    found = []
    for s in await services.store.sessions.for_user(signed_in.user.id):
        names = await _client_names(services, await services.store.sessions.clients_of(s.sid))
        current = s.sid == signed_in.session.sid
        found.append(
            SessionView(s.sid, s.created_at, s.auth_time, s.expires_at, s.amr, names, current)
        )
    return sorted(found, key=lambda v: (not v.current, -v.created_at))


async def end_session(services: AccountDeps, signed_in: SignedIn, sid: str) -> bool:
    """End one of the user's other sessions (back-channel logout included)."""
    session = await services.store.sessions.by_sid(sid)
    if session is None or session.user_id != signed_in.user.id:
        return False
    if session.sid == signed_in.session.sid:
        return False
    await logout.end_session(services, session)
    await _audit_sessions_ended(services, signed_in, 1)
    return True


async def end_other_sessions(services: AccountDeps, signed_in: SignedIn) -> int:
    ended = 0
    for session in await services.store.sessions.for_user(signed_in.user.id):
        if session.sid != signed_in.session.sid:
            await logout.end_session(services, session)
            ended += 1
    await _audit_sessions_ended(services, signed_in, ended)
    return ended


async def _audit_sessions_ended(services: AccountDeps, signed_in: SignedIn, count: int) -> None:
    await services.audit.record(
        "session.ended_by_user",
        actor=f"user:{signed_in.user.id}",
        user_id=signed_in.user.id,
        details={"count": count},
    )


async def applications_of(services: AccountDeps, user_id: str) -> list[ConsentedApplication]:
    """The applications the user has consented to, with the scopes allowed."""
    return await services.store.accounts.applications(user_id)


async def revoke_application(services: AccountDeps, user_id: str, client_id: str) -> bool:
    """Forget the consent and revoke the refresh tokens the client holds for this user.

    The next authorization request asks for consent again; access tokens issued with the
    revoked refresh tokens go on the deny list.
    """
    if await services.store.consents.granted(user_id, client_id) is None:
        return False
    await services.store.consents.revoke(user_id, client_id)
    revoked = await revoke_refresh_tokens(services, user_id, client_id=client_id)
    await services.audit.record(
        "consent.revoked",
        actor=f"user:{user_id}",
        user_id=user_id,
        client_id=client_id,
        details={"refresh_grants_revoked": revoked},
    )
    return True


async def revoke_refresh_tokens(
    services: AccountDeps,
    user_id: str,
    *,
    client_id: str | None = None,
    keeping_sid: str | None = None,
) -> int:
    """Revoke the matching refresh tokens and deny the access tokens issued with them."""
    revoked = await services.store.accounts.revoke_refresh_tokens(
        user_id, client_id=client_id, keeping_sid=keeping_sid
    )
    await services.store.revocations.revoke(revoked.access_tokens)
    return revoked.count


async def change_password(services: AccountDeps, signed_in: SignedIn, new_hash: str) -> int:
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
    revoked = await revoke_refresh_tokens(services, user_id, keeping_sid=sid)
    await services.audit.record(
        "password.changed",
        actor=f"user:{user_id}",
        user_id=user_id,
        details={"sessions_ended": ended, "refresh_grants_revoked": revoked},
    )
    return ended
