"""Registered clients in memory (no cache: every read sees the last write)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary import clock
from ostiary.domain.clients import Client
from ostiary.storage.common.clients import RegistersClients
from ostiary.storage.memory.tables import Tables

# The columns an update may change (the SQL repository's: every column but these two).
_UPDATABLE = frozenset(f.name for f in dataclasses.fields(Client)) - {"client_id", "created_at"}


def _normalised(values: dict[str, Any]) -> dict[str, Any]:
    """Column values (lists) as the ``Client`` fields hold them, as the SQL row mapper does."""
    shapes = {
        "redirect_uris": tuple,
        "grant_types": frozenset,
        "scopes": frozenset,
        "audience": tuple,
        "post_logout_redirect_uris": tuple,
    }
    return {k: shapes[k](v) if k in shapes else v for k, v in values.items()}


class MemoryClients(RegistersClients):
    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self.cache_ttl = 0.0

    def enable_cache(self, ttl: float) -> None:
        self.cache_ttl = ttl

    async def close(self) -> None:
        return None

    async def get(self, client_id: str) -> Client | None:
        return self._t.clients.get(client_id)

    async def _store(self, values: dict[str, Any]) -> Client:
        chosen = values["client_id"]
        if chosen in self._t.clients:
            raise ValueError(f"client {chosen!r} exists")
        client = self._t.clients[chosen] = Client(**_normalised(values))
        return client

    async def update(self, client_id: str, **changes: Any) -> Client | None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        client = self._t.clients.get(client_id)
        if client is not None and changes:
            client = self._t.clients[client_id] = dataclasses.replace(
                client, **_normalised(changes)
            )
        return client

    async def invalidate_tokens(self, client_id: str) -> int:
        cutoff = clock.now() + 1
        client = self._t.clients.get(client_id)
        if client is not None:
            self._t.clients[client_id] = dataclasses.replace(client, tokens_valid_after=cutoff)
        return cutoff

    async def delete(self, client_id: str) -> bool:
        t = self._t
        t.consents = {k: v for k, v in t.consents.items() if k[1] != client_id}
        return t.clients.pop(client_id, None) is not None

    async def list(self) -> list[Client]:
        return sorted(self._t.clients.values(), key=lambda c: c.created_at)
