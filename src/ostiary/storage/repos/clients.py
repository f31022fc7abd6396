"""Registered OAuth clients (RFC 6749 §2)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import clients


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    secret_hash: bytes | None
    public: bool
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: frozenset[str]
    audience: tuple[str, ...]
    first_party: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    created_at: int

    def public_view(self) -> dict[str, object]:
        """The registration as shown to operators; never includes the secret hash."""
        return {
            "client_id": self.client_id,
            "client_name": self.name,
            "public": self.public,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": sorted(self.grant_types),
            "scope": " ".join(sorted(self.scopes)),
            "audience": list(self.audience),
            "first_party": self.first_party,
            "access_token_ttl": self.access_token_ttl,
            "refresh_token_ttl": self.refresh_token_ttl,
            "created_at": self.created_at,
        }


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
    )


class ClientRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

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
    ) -> Client:
        values = {
            "client_id": client_id or secrets.token_urlsafe(16),
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
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(clients).values(**values))
        client = await self.get(values["client_id"])
        assert client is not None
        return client

    async def get(self, client_id: str) -> Client | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(clients).where(clients.c.client_id == client_id))
            ).first()
        return _row_to_client(row) if row else None

    async def list(self) -> list[Client]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(clients).order_by(clients.c.created_at))).all()
        return [_row_to_client(r) for r in rows]

    async def delete(self, client_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
        return result.rowcount > 0
