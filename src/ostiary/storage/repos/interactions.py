"""Pending authorization requests waiting for login or consent, bound to one browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import interactions


@dataclass(frozen=True, slots=True)
class Interaction:
    id: str
    browser_hash: bytes
    client_id: str
    request: dict[str, Any]
    expires_at: int
    authenticated: bool = False


class InteractionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, interaction: Interaction) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(interactions).values(
                    id=interaction.id,
                    browser_hash=interaction.browser_hash,
                    client_id=interaction.client_id,
                    request=interaction.request,
                    expires_at=interaction.expires_at,
                )
            )

    async def get_live(self, interaction_id: str) -> Interaction | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(interactions).where(
                        interactions.c.id == interaction_id,
                        interactions.c.expires_at > clock.now(),
                    )
                )
            ).first()
        return Interaction(**row._mapping) if row else None

    async def mark_authenticated(self, interaction_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(interactions)
                .where(interactions.c.id == interaction_id)
                .values(authenticated=True)
            )

    async def delete(self, interaction_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(interactions).where(interactions.c.id == interaction_id)
            )
        return result.rowcount == 1

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(interactions).where(interactions.c.expires_at < clock.now())
            )
        return result.rowcount
