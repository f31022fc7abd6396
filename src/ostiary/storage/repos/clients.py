"""Registered OAuth clients (RFC 6749 §2)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary import clock
from ostiary.cache.rows import RowCache
from ostiary.domain.clients import Client
from ostiary.storage.channels import channel_for
from ostiary.storage.tables import clients

INVALIDATION_CHANNEL = "ostiary_clients"


def _row_to_client(row: object) -> Client:
    m = row._mapping  # type: ignore[attr-defined]
    return Client(
        client_id=m["client_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        public=m["public"],
        token_endpoint_auth_method=m["token_endpoint_auth_method"],
        redirect_uris=tuple(m["redirect_uris"]),
        grant_types=frozenset(m["grant_types"]),
        scopes=frozenset(m["scopes"]),
        audience=tuple(m["audience"]),
        first_party=m["first_party"],
        access_token_ttl=m["access_token_ttl"],
        refresh_token_ttl=m["refresh_token_ttl"],
        created_at=m["created_at"],
        post_logout_redirect_uris=tuple(m["post_logout_redirect_uris"]),
        backchannel_logout_uri=m["backchannel_logout_uri"],
        backchannel_logout_session_required=m["backchannel_logout_session_required"],
        id_token_signed_response_alg=m["id_token_signed_response_alg"],
        id_token_ttl=m["id_token_ttl"],
        session_refresh_tokens=m["session_refresh_tokens"],
        include_roles=m["include_roles"],
        include_groups=m["include_groups"],
        tokens_valid_after=m["tokens_valid_after"],
    )


_OIDC_FIELDS = {
    "post_logout_redirect_uris": [],
    "backchannel_logout_uri": None,
    "backchannel_logout_session_required": False,
    "id_token_signed_response_alg": None,
    "id_token_ttl": None,
    "session_refresh_tokens": False,
    "include_roles": False,
    "include_groups": False,
}


def _oidc_values(given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - set(_OIDC_FIELDS)
    if unknown:
        raise ValueError(f"unknown client fields {sorted(unknown)}")
    return {**_OIDC_FIELDS, **{k: v for k, v in given.items() if v is not None}}


def new_client_id() -> str:
    """128 random bits, URL-safe, never starting with '-' (a command line would take it
    for an option) or '_'."""
    while True:
        candidate = secrets.token_urlsafe(16)
        if candidate[0].isalnum():
            return candidate


class ClientRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Off until enable_cache (build_services turns it on for the server and the CLI).
        self._cache: RowCache[Client] = RowCache(ttl=0)
        self._channel = channel_for(engine, INVALIDATION_CHANNEL)

    def enable_cache(self, ttl: float) -> None:
        self._cache.ttl = ttl

    async def get(self, client_id: str) -> Client | None:
        """The registration, through this node's cache when enabled: a change made by any
        node is seen at once (see ``ostiary.storage.channels``); the TTL is only a backstop."""
        if self._cache.ttl > 0:
            self._channel.poll(self._cache)
        return await self._cache.get(client_id, self._select)

    async def close(self) -> None:
        await self._channel.close()

    async def _changed(self, conn: AsyncConnection, client_id: str) -> None:
        await self._channel.in_transaction(conn, client_id)

    def _committed(self, client_id: str) -> None:
        self._channel.committed(client_id)
        self._cache.invalidate(client_id)

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
        values = {
            "client_id": client_id or new_client_id(),
            "name": name,
            "secret_hash": secret_hash,
            "public": public,
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "redirect_uris": list(redirect_uris),
            "grant_types": list(grant_types),
            "scopes": sorted(set(scopes)),
            "audience": list(audience or []),
            "first_party": first_party,
            "access_token_ttl": access_token_ttl,
            "refresh_token_ttl": refresh_token_ttl,
            "created_at": clock.now(),
            **_oidc_values(oidc),
        }
        # A chosen client id may have been used before (deleted, registered again): tokens
        # from its earlier life, even from this very second, are never revived.
        values["tokens_valid_after"] = values["created_at"] + (1 if client_id else 0)
        async with self._engine.begin() as conn:
            await conn.execute(insert(clients).values(**values))
        client = await self.get(values["client_id"])
        assert client is not None
        return client

    async def _select(self, client_id: str) -> Client | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(clients).where(clients.c.client_id == client_id))
            ).first()
        return _row_to_client(row) if row else None

    async def list(self) -> list[Client]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(clients).order_by(clients.c.created_at))).all()
        return [_row_to_client(r) for r in rows]

    async def update(self, client_id: str, **changes: Any) -> Client | None:
        """Change registration fields; names are the column names."""
        unknown = set(changes) - set(clients.c.keys()) | (
            {"client_id", "created_at"} & set(changes)
        )
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if changes:
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(clients).where(clients.c.client_id == client_id).values(**changes)
                )
                await self._changed(conn, client_id)
            self._committed(client_id)
        return await self.get(client_id)

    async def invalidate_tokens(self, client_id: str) -> int:
        """Every access token issued up to this second stops being valid."""
        cutoff = clock.now() + 1
        async with self._engine.begin() as conn:
            await conn.execute(
                update(clients)
                .where(clients.c.client_id == client_id)
                .values(tokens_valid_after=cutoff)
            )
            await self._changed(conn, client_id)
        self._committed(client_id)
        return cutoff

    async def delete(self, client_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
            await self._changed(conn, client_id)
        self._committed(client_id)
        return result.rowcount > 0
