"""Remembered consent in memory: the union of scopes a user allowed a client."""

from __future__ import annotations

from ostiary.storage.memory.tables import Tables


class MemoryConsents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def granted(self, user_id: str, client_id: str) -> frozenset[str] | None:
        return self._t.consents.get((user_id, client_id))

    async def grant(self, user_id: str, client_id: str, scopes: frozenset[str]) -> None:
        before = self._t.consents.get((user_id, client_id), frozenset())
        self._t.consents[user_id, client_id] = before | scopes

    async def revoke(self, user_id: str, client_id: str) -> None:
        self._t.consents.pop((user_id, client_id), None)
