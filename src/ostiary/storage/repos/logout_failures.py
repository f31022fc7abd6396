"""Back-channel logout deliveries that failed after every retry, for operators to see."""

from __future__ import annotations

from sqlalchemy import delete, insert

from ostiary import clock
from ostiary.domain.sessions import LogoutFailure
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.tables import backchannel_logout_failures as failures

FAILURE = RowType.of(failures, LogoutFailure)


class LogoutFailureRepository(Repository):
    async def add(
        self, *, client_id: str, sid: str | None, sub: str, error: str, attempts: int
    ) -> None:
        await self._write(
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
        query = (
            FAILURE.select()
            .where(failures.c.client_id == client_id)
            .order_by(failures.c.failed_at.desc())
            .limit(100)
        )
        return FAILURE.all(await self._rows(query))

    async def purge_older_than(self, seconds: int) -> int:
        return await self._write(
            delete(failures).where(failures.c.failed_at < clock.now() - seconds)
        )
