"""Remembered consent per user and client: the union of scopes the user has allowed."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import consents


class ConsentRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def granted(self, user_id: str, client_id: str) -> frozenset[str] | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(consents.c.scopes).where(
                        consents.c.user_id == user_id, consents.c.client_id == client_id
                    )
                )
            ).first()
        return frozenset(row.scopes) if row else None

    async def grant(self, user_id: str, client_id: str, scopes: frozenset[str]) -> None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(consents.c.scopes)
                    .where(consents.c.user_id == user_id, consents.c.client_id == client_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                await conn.execute(
                    insert(consents).values(
                        user_id=user_id,
                        client_id=client_id,
                        scopes=sorted(scopes),
                        updated_at=clock.now(),
                    )
                )
            else:
                await conn.execute(
                    update(consents)
                    .where(consents.c.user_id == user_id, consents.c.client_id == client_id)
                    .values(scopes=sorted(scopes | set(row.scopes)), updated_at=clock.now())
                )

    async def revoke(self, user_id: str, client_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(consents).where(
                    consents.c.user_id == user_id, consents.c.client_id == client_id
                )
            )
