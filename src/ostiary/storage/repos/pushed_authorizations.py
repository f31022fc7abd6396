"""Pushed authorization requests (RFC 9126): kept under the digest of their request_uri,
bound to the client that pushed them, taken once."""

from __future__ import annotations

from sqlalchemy import delete, insert

from ostiary import clock
from ostiary.storage.repos._base import Repository
from ostiary.storage.tables import pushed_authorizations as pushed


class PushedAuthorizationRepository(Repository):
    async def add(
        self, *, uri_hash: bytes, client_id: str, params: dict[str, str], ttl: int
    ) -> None:
        values = {
            "uri_hash": uri_hash,
            "client_id": client_id,
            "params": params,
            "expires_at": clock.now() + ttl,
        }
        await self._write(insert(pushed).values(**values))

    async def take(self, uri_hash: bytes, client_id: str) -> dict[str, str] | None:
        """The parameters pushed under ``uri_hash`` by ``client_id``, deleted as they are
        read: of two requests racing with the same request_uri (on any nodes) one gets
        them. None if unknown, used, expired or pushed by another client (then it stays)."""
        statement = (
            delete(pushed)
            .where(
                pushed.c.uri_hash == uri_hash,
                pushed.c.client_id == client_id,
                pushed.c.expires_at > clock.now(),
            )
            .returning(pushed.c.params)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return dict(row[0]) if row is not None else None

    async def purge_expired(self) -> int:
        return await self._write(delete(pushed).where(pushed.c.expires_at < clock.now()))
