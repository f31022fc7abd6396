"""Failed-attempt counters shared by every node (brute-force protection)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import throttles


class ThrottleRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def locked_until(self, keys: Iterable[str]) -> int:
        """The latest lock end among these keys (0 when none is locked)."""
        wanted = list(keys)
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.max(throttles.c.locked_until)).where(throttles.c.key.in_(wanted))
                )
            ).scalar()
        return int(value or 0)

    async def fail(self, key: str, *, window: int) -> int:
        """Count one failure (a fresh count when the last one is older than ``window``);
        returns the number of failures now on record. Atomic across nodes."""
        now = clock.now()
        dialect = self._engine.dialect.name
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert_(throttles).values(key=key, failures=1, last_failure_at=now, locked_until=0)
        stale = throttles.c.last_failure_at < now - window
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                # a stale record starts over
                "failures": case((stale, 1), else_=throttles.c.failures + 1),
                "last_failure_at": now,
            },
        ).returning(throttles.c.failures)
        async with self._engine.begin() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def lock(self, key: str, until: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                throttles.update().where(throttles.c.key == key).values(locked_until=until)
            )

    async def clear(self, keys: Iterable[str]) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(throttles).where(throttles.c.key.in_(list(keys))))
        return result.rowcount

    async def purge_idle(self, seconds: int) -> int:
        now = clock.now()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(throttles).where(
                    throttles.c.last_failure_at < now - seconds, throttles.c.locked_until < now
                )
            )
        return result.rowcount
