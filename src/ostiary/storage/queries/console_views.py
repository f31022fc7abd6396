"""The admin console dashboard's figures (its newest events: ``audit_pages.newest_first``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.tables import audit_events, clients, sessions, users

DAY = 86_400


@dataclass(frozen=True, slots=True)
class Counts:
    users: int
    active_sessions: int
    clients: int
    logins: int
    login_failures: int


async def counts(engine: AsyncEngine, now: int) -> Counts:
    """The dashboard's figures; logins and failures over the last 24 hours."""
    since = now - DAY

    def events(kind: str) -> ScalarSelect[int]:
        # ix_audit_events_type_at answers this without reading the events themselves.
        return (
            select(func.count())
            .select_from(audit_events)
            .where(audit_events.c.type == kind, audit_events.c.at >= since)
            .scalar_subquery()
        )

    stmt = select(
        select(func.count()).select_from(users).scalar_subquery(),
        select(func.count())
        .select_from(sessions)
        .where(sessions.c.expires_at > now)
        .scalar_subquery(),
        select(func.count()).select_from(clients).scalar_subquery(),
        events("login.success"),
        events("login.failure"),
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).one()
    return Counts(*(int(v or 0) for v in row))
