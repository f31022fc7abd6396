"""Registered OAuth clients (RFC 6749 §2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Update, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.cache.rows import RowCache
from ostiary.domain.clients import Client
from ostiary.storage.channels import channel_for
from ostiary.storage.common.clients import RegistersClients
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.repos._driver import Row, json_value
from ostiary.storage.tables import clients

INVALIDATION_CHANNEL = "ostiary_clients"


def _client(values: Row) -> Client:
    (client_id, name, secret_hash, public, auth_method, redirect_uris) = values[:6]
    (grant_types, scopes, audience, first_party, access_ttl, refresh_ttl) = values[6:12]
    (created_at, post_logout_uris, logout_uri, logout_session, id_alg) = values[12:17]
    (id_ttl, session_refresh_tokens, roles, groups, tokens_valid_after) = values[17:22]
    (require_mfa, jwks, jwks_uri, auth_alg, par, dpop, signed_request) = values[22:29]
    (request_alg, tls_dn, tls_bound, profile, secret_sealed) = values[29:34]
    return Client(
        client_id,
        name,
        secret_hash,
        bool(public),
        auth_method,
        tuple(json_value(redirect_uris)),
        frozenset(json_value(grant_types)),
        frozenset(json_value(scopes)),
        tuple(json_value(audience)),
        bool(first_party),
        access_ttl,
        refresh_ttl,
        created_at,
        tuple(json_value(post_logout_uris)),
        logout_uri,
        bool(logout_session),
        id_alg,
        id_ttl,
        bool(session_refresh_tokens),
        bool(roles),
        bool(groups),
        tokens_valid_after,
        bool(require_mfa),
        json_value(jwks) if jwks is not None else None,
        jwks_uri,
        auth_alg,
        bool(par),
        bool(dpop),
        bool(signed_request),
        request_alg,
        tls_dn,
        bool(tls_bound),
        profile,
        bytes(secret_sealed) if secret_sealed is not None else None,
    )


CLIENT = RowType(clients, Client.__slots__, _client)


def _row_to_client(row: object) -> Client:
    """A client from a row that selected the whole table (the admin API's pages)."""
    return CLIENT.named(row)


class ClientRepository(RegistersClients, Repository):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
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

    async def _change(self, client_id: str, statement: Update | Delete) -> int:
        """Run an update or delete on this one registration, telling every node's cache
        (``_channel``) in the same transaction and forgetting this node's copy once it is
        committed."""
        async with self._engine.begin() as conn:
            result = await conn.execute(statement.where(clients.c.client_id == client_id))
            await self._channel.in_transaction(conn, client_id)
        self._channel.committed(client_id)
        self._cache.invalidate(client_id)
        return int(result.rowcount)

    async def _store(self, values: dict[str, Any]) -> Client:
        await self._write(insert(clients).values(**values))
        client = await self.get(values["client_id"])
        assert client is not None
        return client

    async def _select(self, client_id: str) -> Client | None:
        row = await self._first(CLIENT.select().where(clients.c.client_id == client_id))
        return _client(row) if row else None

    async def list(self) -> list[Client]:
        return CLIENT.all(await self._rows(CLIENT.select().order_by(clients.c.created_at)))

    async def update(self, client_id: str, **changes: Any) -> Client | None:
        """Change registration fields; names are the column names."""
        unknown = set(changes) - set(clients.c.keys()) | (
            {"client_id", "created_at"} & set(changes)
        )
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if changes:
            await self._change(client_id, update(clients).values(**changes))
        return await self.get(client_id)

    async def invalidate_tokens(self, client_id: str) -> int:
        """Every access token issued up to this second stops being valid."""
        cutoff = clock.now() + 1
        await self._change(client_id, update(clients).values(tokens_valid_after=cutoff))
        return cutoff

    async def delete(self, client_id: str) -> bool:
        return await self._change(client_id, delete(clients)) > 0
