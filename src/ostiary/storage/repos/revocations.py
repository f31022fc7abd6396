"""Deny list of JWT access-token ids, kept until the token would have expired (RFC 7009).

Each newly denied id is also appended to the revocation feed (``revocation_events``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.repos.revocation_events import RevocationEvent, insert_events
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
        stmt = (
            insert(revoked_tokens)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(revoked_tokens.c.jti, revoked_tokens.c.expires_at)
        )
        async with self._engine.begin() as conn:
            added = (await conn.execute(stmt)).all()
            # The feed tells resource servers once per token id, in the same transaction
            # so a denied id is never missing from it.
            now = clock.now()
            await insert_events(
                conn, [RevocationEvent("jti", r.jti, now, r.expires_at) for r in added]
            )

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
