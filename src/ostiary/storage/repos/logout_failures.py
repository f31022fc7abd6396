"""Back-channel logout deliveries that failed after every retry, for operators to see."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.sessions import LogoutFailure
from ostiary.storage.tables import backchannel_logout_failures as failures


class LogoutFailureRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self, *, client_id: str, sid: str | None, sub: str, error: str, attempts: int
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(failures).values(
                    client_id=client_id,
                    sid=sid,
                    sub=sub,
                    error=error[:2000],
                    attempts=attempts,
                    failed_at=clock.now(),
                )
            )

    async def for_client(self, client_id: str) -> list[LogoutFailure]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(failures)
                    .where(failures.c.client_id == client_id)
                    .order_by(failures.c.failed_at.desc())
                    .limit(100)
                )
            ).all()
        return [LogoutFailure(**r._mapping) for r in rows]

    async def purge_older_than(self, seconds: int) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(failures).where(failures.c.failed_at < clock.now() - seconds)
            )
        return result.rowcount
