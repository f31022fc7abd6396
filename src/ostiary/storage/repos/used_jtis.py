"""Identifiers used once within their lifetime, across every node (RFC 7523 §3 item 7,
RFC 9449 §11.1): the first insert of a key wins, any later one finds it there."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from ostiary import clock
from ostiary.storage.repos._base import Repository
from ostiary.storage.tables import used_jtis


class UsedJtiRepository(Repository):
    async def first_use(self, key: bytes, expires_at: int) -> bool:
        """True the first time ``key`` is used; False while an earlier use is remembered.
        One statement, so two nodes racing with the same key cannot both win."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(used_jtis)
            .values(key=key, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        return await self._write(statement) == 1

    async def purge_expired(self) -> int:
        return await self._write(delete(used_jtis).where(used_jtis.c.expires_at < clock.now()))
