"""Identifiers used once within their lifetime, in memory."""

from __future__ import annotations

from ostiary import clock
from ostiary.storage.memory.tables import Tables


class MemoryUsedJtis:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def first_use(self, key: bytes, expires_at: int) -> bool:
        if key in self._t.used_jtis:
            return False
        self._t.used_jtis[key] = expires_at
        return True

    async def purge_expired(self) -> int:
        now = clock.now()
        gone = [k for k, expires_at in self._t.used_jtis.items() if expires_at < now]
        for key in gone:
            del self._t.used_jtis[key]
        return len(gone)
