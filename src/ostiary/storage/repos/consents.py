"""Remembered consent per user and client: the union of scopes the user has allowed."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, insert, select, update

from ostiary import clock
from ostiary.storage.repos._base import Repository
from ostiary.storage.tables import consents


def _pair(user_id: str, client_id: str) -> tuple[ColumnElement[bool], ...]:
    return (consents.c.user_id == user_id, consents.c.client_id == client_id)


class ConsentRepository(Repository):
    async def granted(self, user_id: str, client_id: str) -> frozenset[str] | None:
        row = await self._first(select(consents.c.scopes).where(*_pair(user_id, client_id)))
        return frozenset(row[0]) if row else None

    async def grant(self, user_id: str, client_id: str, scopes: frozenset[str]) -> None:
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(consents.c.scopes).where(*_pair(user_id, client_id)).with_for_update()
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
                    .where(*_pair(user_id, client_id))
                    .values(scopes=sorted(scopes | set(row.scopes)), updated_at=clock.now())
                )

    async def revoke(self, user_id: str, client_id: str) -> None:
        await self._write(delete(consents).where(*_pair(user_id, client_id)))
