"""Identifiers used once within their lifetime, across every node (RFC 7523 §3 item 7,
RFC 9449 §11.1): the first insert of a key wins, any later one finds it there.

``first_use`` runs on every token request with a client assertion or a DPoP proof, so it
is one statement on the driver connection (one round trip, no BEGIN/COMMIT around it)."""

from __future__ import annotations

from sqlalchemy import delete

from ostiary import clock
from ostiary.storage.repos._base import Repository
from ostiary.storage.tables import used_jtis

_FIRST_USE = """
INSERT INTO used_jtis (key, expires_at) VALUES ($1, $2)
ON CONFLICT (key) DO NOTHING
RETURNING 1
"""


class UsedJtiRepository(Repository):
    async def first_use(self, key: bytes, expires_at: int) -> bool:
        """True the first time ``key`` is used; False while an earlier use is remembered.
        One statement, so two nodes racing with the same key cannot both win."""
        return await self._driver.fetchrow(_FIRST_USE, key, expires_at) is not None

    async def purge_expired(self) -> int:
        return await self._write(delete(used_jtis).where(used_jtis.c.expires_at < clock.now()))
