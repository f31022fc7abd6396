"""The append-only audit log of security events.

A security event is written before its response (a login among them), so one event goes
through the driver connection (``_driver``, the cheaper path); batches use SQLAlchemy Core.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.audit import PERSONAL_DETAILS, AuditEvent
from ostiary.storage.common.audit import Condition, QueriesAudit
from ostiary.storage.repos._driver import Driver, json_text
from ostiary.storage.repos._held_back import holding
from ostiary.storage.tables import audit_events

# Events per statement of a batch. Building a slice's parameters holds the event loop:
# 5,000 events in slices of 500 held it 3.7-8.9 ms at a time, in slices of 200 1.7-3.6 ms,
# the whole batch taking as long either way (bench/stall_sources.py, 19:10 UTC).
BATCH_SLICE = 200
_INSERT = (
    "INSERT INTO audit_events (at, type, actor, outcome, user_id, client_id, ip, reason, details)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


class AuditRepository(QueriesAudit):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

    async def add(self, e: AuditEvent) -> None:
        """One event, committed when this returns; in a unit of work, held back to go with
        a later statement of the request (``_held_back``)."""
        values = (
            e.at or clock.now(),
            e.type,
            e.actor,
            e.outcome,
            e.user_id,
            e.client_id,
            e.ip,
            e.reason,
            json_text(e.details),
        )
        held = holding()
        if held is not None:
            held.add(_INSERT, *values)
        else:
            await self._driver.fetch(_INSERT, *values)

    async def add_many(self, events: Sequence[AuditEvent]) -> None:
        if len(events) == 1:
            await self.add(events[0])
            return
        if not events:
            return
        # A batch is a second's worth of events (thousands under load), and turning rows
        # into a statement's parameters runs on the event loop: in slices, each its own
        # statement, the requests waiting meanwhile run between them instead of after all.
        async with self._engine.begin() as conn:
            for start in range(0, len(events), BATCH_SLICE):
                await conn.execute(insert(audit_events), _rows(events[start : start + BATCH_SLICE]))

    async def _select(self, conditions: list[Condition], limit: int) -> list[AuditEvent]:
        stmt = select(audit_events).order_by(audit_events.c.id).limit(limit)
        for name, compare, value in conditions:
            stmt = stmt.where(compare(audit_events.c[name], value))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [AuditEvent(**r._mapping) for r in rows]

    async def pseudonymise(self, user_id: str, pseudonym: str) -> int:
        """A deleted user's events keep their shape but no longer name the person: the id
        becomes the pseudonym, and the address and any typed username or email go."""
        async with self._engine.begin() as conn:
            named = (
                await conn.execute(
                    select(audit_events.c.id, audit_events.c.details).where(
                        audit_events.c.user_id == user_id
                    )
                )
            ).all()
            for row in named:
                details = dict(row.details or {})
                if set(details) & PERSONAL_DETAILS:
                    kept = {k: v for k, v in details.items() if k not in PERSONAL_DETAILS}
                    await conn.execute(
                        update(audit_events).where(audit_events.c.id == row.id).values(details=kept)
                    )
            result = await conn.execute(
                update(audit_events)
                .where(audit_events.c.user_id == user_id)
                .values(user_id=pseudonym, ip=None)
            )
            await conn.execute(
                update(audit_events)
                .where(audit_events.c.actor == f"user:{user_id}")
                .values(actor=f"user:{pseudonym}")
            )
        return result.rowcount

    async def purge_older_than(self, seconds: int) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(audit_events).where(audit_events.c.at < clock.now() - seconds)
            )
        return result.rowcount


def _rows(events: Sequence[AuditEvent]) -> list[dict[str, object]]:
    return [
        {
            "at": e.at or clock.now(),
            "type": e.type,
            "actor": e.actor,
            "outcome": e.outcome,
            "user_id": e.user_id,
            "client_id": e.client_id,
            "ip": e.ip,
            "reason": e.reason,
            "details": e.details,
        }
        for e in events
    ]
