"""SSO sessions and failed back-channel logouts in memory."""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary import clock
from ostiary.domain.sessions import LogoutFailure, Session
from ostiary.domain.users import User
from ostiary.storage.common.sessions import StartsSessions
from ostiary.storage.memory.access import MemoryAccess
from ostiary.storage.memory.tables import Tables


class MemorySessions(StartsSessions):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def live_with_user(self, id_hash: bytes) -> tuple[Session, User, bool] | None:
        session = await self.get_live(id_hash)
        user = self._t.users.get(session.user_id) if session is not None else None
        if session is None or user is None:
            return None
        return session, user, bool(await MemoryAccess(self._t).mfa_required_by(user.id))

    async def _store(self, session: Session) -> None:
        self._t.sessions[session.id_hash] = session

    async def _renew(self, old_hash: bytes, now: int, changes: dict[str, Any]) -> Session | None:
        old = await self.get_live(old_hash)
        if old is None:
            return None
        del self._t.sessions[old_hash]
        session = dataclasses.replace(old, **changes)
        self._t.sessions[session.id_hash] = session
        return session

    async def get_live(self, id_hash: bytes) -> Session | None:
        session = self._t.sessions.get(id_hash)
        return session if session is not None and session.expires_at > clock.now() else None

    async def by_sid(self, sid: str) -> Session | None:
        return next((s for s in self._t.sessions.values() if s.sid == sid), None)

    async def for_user(self, user_id: str) -> list[Session]:
        now = clock.now()
        return [s for s in self._t.sessions.values() if s.user_id == user_id and s.expires_at > now]

    async def clients_of(self, sid: str) -> list[str]:
        return sorted(client for s, client in self._t.session_clients if s == sid)

    async def delete(self, id_hash: bytes) -> None:
        self._t.sessions.pop(id_hash, None)

    async def delete_sid(self, sid: str) -> bool:
        t = self._t
        t.session_clients = {pair for pair in t.session_clients if pair[0] != sid}
        return t.drop("sessions", lambda s: s.sid == sid) > 0

    async def purge_expired(self) -> int:
        t, now = self._t, clock.now()
        purged = t.drop("sessions", lambda s: s.expires_at < now)
        live = {s.sid for s in t.sessions.values()}
        t.session_clients = {pair for pair in t.session_clients if pair[0] in live}
        return purged


class MemoryLogoutFailures:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(
        self, *, client_id: str, sid: str | None, sub: str, error: str, attempts: int
    ) -> None:
        failure = LogoutFailure(
            next(self._t.ids), client_id, sid, sub, error[:2000], attempts, clock.now()
        )
        self._t.logout_failures.append(failure)

    async def for_client(self, client_id: str) -> list[LogoutFailure]:
        mine = [f for f in self._t.logout_failures if f.client_id == client_id]
        return sorted(mine, key=lambda f: f.failed_at, reverse=True)[:100]

    async def purge_older_than(self, seconds: int) -> int:
        cutoff = clock.now() - seconds
        return self._t.drop("logout_failures", lambda f: f.failed_at < cutoff)
