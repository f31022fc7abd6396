"""The access-token deny list and the revocation feed in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ostiary import clock
from ostiary.domain.revocation import RevocationEvent
from ostiary.domain.tokens import AccessTokenBrief, AccessTokenState
from ostiary.storage.memory.tables import Tables


def append_events(tables: Tables, events: Iterable[RevocationEvent]) -> None:
    """Append to the feed, each event with the next id (the order readers see)."""
    tables.revocation_events.extend(dataclasses.replace(e, id=next(tables.ids)) for e in events)


class MemoryRevocations:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def revoke(self, entries: Iterable[tuple[str, int]]) -> None:
        now = clock.now()
        added = []
        for jti, expires_at in entries:
            if jti not in self._t.revoked:
                self._t.revoked[jti] = expires_at
                added.append(RevocationEvent("jti", jti, now, expires_at))
        # The feed names each newly denied id once.
        append_events(self._t, added)

    async def access_state(
        self, jti: str, user_id: str | None, sid: str | None
    ) -> AccessTokenState:
        user = self._t.users.get(user_id) if user_id is not None else None
        return AccessTokenState(jti in self._t.revoked, user, self._t.session_end(sid))

    async def access_brief(
        self, jti: str, user_id: str | None, sid: str | None
    ) -> AccessTokenBrief:
        user = self._t.users.get(user_id) if user_id is not None else None
        return AccessTokenBrief(
            jti in self._t.revoked,
            user.username if user is not None else None,
            user is not None and user.disabled,
            self._t.session_end(sid),
        )

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop("revoked", lambda expires_at: expires_at < now)


class MemoryRevocationEvents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add_many(self, events: Sequence[RevocationEvent]) -> None:
        append_events(self._t, events)

    async def since(self, cursor: int, limit: int) -> list[RevocationEvent]:
        after = [e for e in self._t.revocation_events if e.id is not None and e.id > cursor]
        return after[:limit]

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop("revocation_events", lambda e: e.expires_at < now)
