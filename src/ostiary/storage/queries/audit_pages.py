"""Reads of the audit log for the console: newest first a page at a time, and the whole
filtered log oldest first for an export. Both keyset on ``id`` (it only grows), so a
page or a chunk costs the same however deep into the log it starts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.domain.audit import AuditEvent
from ostiary.storage.tables import audit_events


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What a reader narrowed the log to; None is "any". ``since`` and ``until`` are Unix
    seconds, both inclusive."""

    user_id: str | None = None
    client_id: str | None = None
    type: str | None = None
    since: int | None = None
    until: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c = audit_events.c
        where: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            where.append(c.user_id == self.user_id)
        if self.client_id is not None:
            where.append(c.client_id == self.client_id)
        if self.type is not None:
            where.append(c.type == self.type)
        if self.since is not None:
            where.append(c.at >= self.since)
        if self.until is not None:
            where.append(c.at <= self.until)
        return where


async def newest_first(
    engine: AsyncEngine, filters: AuditFilter, *, before_id: int | None, limit: int
) -> tuple[list[AuditEvent], bool]:
    """Up to ``limit`` events with ids below ``before_id``, newest first; and whether
    older ones follow."""
    stmt = select(audit_events).where(*filters.conditions())
    if before_id is not None:
        stmt = stmt.where(audit_events.c.id < before_id)
    stmt = stmt.order_by(audit_events.c.id.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [AuditEvent(**r._mapping) for r in rows[:limit]], len(rows) > limit


async def last_id(engine: AsyncEngine) -> int:
    """The newest event's id (0 on an empty log): where an export taken now ends."""
    async with engine.connect() as conn:
        value = (await conn.execute(select(func.max(audit_events.c.id)))).scalar()
    return int(value or 0)


async def oldest_first(
    engine: AsyncEngine, filters: AuditFilter, *, after_id: int, up_to_id: int, limit: int
) -> list[AuditEvent]:
    """Up to ``limit`` events with ids in (after_id, up_to_id], oldest first."""
    c = audit_events.c
    stmt = (
        select(audit_events)
        .where(*filters.conditions(), c.id > after_id, c.id <= up_to_id)
        .order_by(c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [AuditEvent(**r._mapping) for r in rows]
