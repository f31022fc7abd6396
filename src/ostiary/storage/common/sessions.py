"""Starting and renewing an SSO session, as both session repositories take it."""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from typing import Any

from ostiary import clock
from ostiary.domain.sessions import Session


class StartsSessions(ABC):
    """``Sessions.add`` and ``reauthenticate``: the values a login sets, stored by
    ``_store`` and ``_renew``."""

    async def add(
        self,
        *,
        id_hash: bytes,
        user_id: str,
        ttl: int,
        amr: tuple[str, ...] = ("pwd",),
        acr: str | None = None,
    ) -> Session:
        now = clock.now()
        sid = secrets.token_urlsafe(24)
        session = Session(id_hash, user_id, now, now, now + ttl, sid, amr, acr)
        await self._store(session)
        return session

    async def reauthenticate(
        self,
        old_hash: bytes,
        new_hash: bytes,
        *,
        ttl: int,
        amr: tuple[str, ...] = ("pwd",),
        acr: str | None = None,
    ) -> Session | None:
        now = clock.now()
        changes = {
            "id_hash": new_hash,
            "auth_time": now,
            "expires_at": now + ttl,
            "amr": amr,
            "acr": acr,
        }
        return await self._renew(old_hash, now, changes)

    @abstractmethod
    async def _store(self, session: Session) -> None: ...

    @abstractmethod
    async def _renew(self, old_hash: bytes, now: int, changes: dict[str, Any]) -> Session | None:
        """Apply ``changes`` (fields of ``Session``) to the session ``old_hash`` names if it
        is live at ``now``."""
