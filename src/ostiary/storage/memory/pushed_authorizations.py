"""Pushed authorization requests (RFC 9126) in memory: taken once, like the SQL ones."""

from __future__ import annotations

from ostiary import clock
from ostiary.storage.memory.tables import PushedRequest, Tables


class MemoryPushedAuthorizations:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(
        self, *, uri_hash: bytes, client_id: str, params: dict[str, str], ttl: int
    ) -> None:
        if uri_hash in self._t.pushed_authorizations:
            raise ValueError("that request_uri is stored already")
        pushed = PushedRequest(client_id, dict(params), clock.now() + ttl)
        self._t.pushed_authorizations[uri_hash] = pushed

    async def take(self, uri_hash: bytes, client_id: str) -> dict[str, str] | None:
        found = self._t.pushed_authorizations.get(uri_hash)
        if found is None or found.client_id != client_id or found.expires_at <= clock.now():
            return None
        del self._t.pushed_authorizations[uri_hash]
        return dict(found.params)

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop("pushed_authorizations", lambda p: p.expires_at < now)
