"""Registered clients in memory (no cache: every read sees the last write)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary import clock
from ostiary.domain.clients import Client
from ostiary.storage.memory.tables import Tables
from ostiary.storage.repos.clients import new_client_id

# What ``add`` takes as ``**oidc``: the registration fields with a default, but the cut-off.
_OIDC_FIELDS = frozenset(
    f.name for f in dataclasses.fields(Client) if f.default is not dataclasses.MISSING
) - {"tokens_valid_after"}
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


class MemoryClients:
    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self.cache_ttl = 0.0

    def enable_cache(self, ttl: float) -> None:
        self.cache_ttl = ttl

    async def close(self) -> None:
        return None

    async def get(self, client_id: str) -> Client | None:
        return self._t.clients.get(client_id)

    async def add(
        self,
        *,
        name: str,
        secret_hash: bytes | None,
        public: bool,
        token_endpoint_auth_method: str,
        redirect_uris: list[str],
        grant_types: list[str],
        scopes: list[str],
        audience: list[str] | None = None,
        first_party: bool = False,
        access_token_ttl: int | None = None,
        refresh_token_ttl: int | None = None,
        client_id: str | None = None,
        **oidc: Any,
    ) -> Client:
        unknown = set(oidc) - _OIDC_FIELDS
        if unknown:
            raise ValueError(f"unknown client fields {sorted(unknown)}")
        chosen = client_id or new_client_id()
        if chosen in self._t.clients:
            raise ValueError(f"client {chosen!r} exists")
        now = clock.now()
        client = Client(
            **_normalised(
                {
                    "client_id": chosen,
                    "name": name,
                    "secret_hash": secret_hash,
                    "public": public,
                    "token_endpoint_auth_method": token_endpoint_auth_method,
                    "redirect_uris": redirect_uris,
                    "grant_types": grant_types,
                    "scopes": scopes,
                    "audience": audience or [],
                    "first_party": first_party,
                    "access_token_ttl": access_token_ttl,
                    "refresh_token_ttl": refresh_token_ttl,
                    "created_at": now,
                    # A chosen id may have been used before: its earlier tokens stay dead.
                    "tokens_valid_after": now + (1 if client_id else 0),
                    **{k: v for k, v in oidc.items() if v is not None},
                }
            )
        )
        self._t.clients[chosen] = client
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
