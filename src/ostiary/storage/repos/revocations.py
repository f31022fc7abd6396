"""Deny list of JWT access-token ids, kept until the token would have expired (RFC 7009)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import revoked_tokens


class RevocationRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def revoke(self, entries: Iterable[tuple[str, int]]) -> None:
        rows = [{"jti": jti, "expires_at": exp, "revoked_at": clock.now()} for jti, exp in entries]
        if not rows:
            return
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(revoked_tokens).values(rows).on_conflict_do_nothing(index_elements=["jti"])
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

    async def is_revoked(self, jti: str) -> bool:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti))
            ).first()
        return row is not None

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at < clock.now())
            )
        return result.rowcount
