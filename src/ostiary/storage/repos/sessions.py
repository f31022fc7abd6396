"""SSO sessions (browser login state), keyed by the digest of the cookie value."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import sessions


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: bytes
    user_id: str
    auth_time: int
    created_at: int
    expires_at: int


class SessionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, *, id_hash: bytes, user_id: str, ttl: int) -> Session:
        now = clock.now()
        session = Session(id_hash, user_id, now, now, now + ttl)
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(sessions).values(
                    id_hash=id_hash,
                    user_id=user_id,
                    auth_time=now,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return session

    async def get_live(self, id_hash: bytes) -> Session | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(sessions).where(
                        sessions.c.id_hash == id_hash, sessions.c.expires_at > clock.now()
                    )
                )
            ).first()
        return Session(**row._mapping) if row else None

    async def delete(self, id_hash: bytes) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))

    async def delete_for_user(self, user_id: str) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        return result.rowcount

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(sessions).where(sessions.c.expires_at < clock.now()))
        return result.rowcount
