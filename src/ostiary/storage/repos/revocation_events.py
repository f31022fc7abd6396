"""The revocation feed: an append-only log that resource servers read by cursor."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary import clock
from ostiary.domain.revocation import RevocationEvent
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.tables import revocation_events

KINDS = ("jti", "sub", "sid", "client")
# The longest an access token can live (settings and client registration cap it here):
# a cut-off older than this can no longer match any unexpired token.
MAX_ACCESS_TOKEN_TTL = 86400


def cutoff(kind: str, value: str, not_before: int) -> RevocationEvent:
    """A sub / sid / client event, kept as long as a token issued before it could live."""
    return RevocationEvent(kind, value, not_before, clock.now() + MAX_ACCESS_TOKEN_TTL)


async def insert_events(conn: AsyncConnection, events: Sequence[RevocationEvent]) -> None:
    """Append within the caller's transaction.

    On PostgreSQL, ids come from a sequence at insert time but become visible at commit:
    two writers could commit 11 before 10, and a reader that saw 11 would skip 10 for good.
    Holding the table lock until commit makes ids visible in order (readers never wait).
    """
    if not events:
        return
    if conn.dialect.name == "postgresql":
        await conn.execute(text("LOCK TABLE revocation_events IN EXCLUSIVE MODE"))
    now = clock.now()
    rows = [
        {
            "kind": e.kind,
            "value": e.value,
            "not_before": e.not_before,
            "expires_at": e.expires_at,
            "at": now,
        }
        for e in events
    ]
    await conn.execute(insert(revocation_events), rows)


EVENT = RowType(
    revocation_events,
    ("kind", "value", "not_before", "expires_at", "id"),
    lambda row: RevocationEvent(row[0], row[1], row[2], row[3], id=row[4]),
)


class RevocationEventRepository(Repository):
    async def add_many(self, events: Sequence[RevocationEvent]) -> None:
        if not events:
            return
        async with self._engine.begin() as conn:
            await insert_events(conn, events)

    async def since(self, cursor: int, limit: int) -> list[RevocationEvent]:
        t = revocation_events
        query = EVENT.select().where(t.c.id > cursor).order_by(t.c.id).limit(limit)
        return EVENT.all(await self._rows(query))

    async def purge_expired(self) -> int:
        return await self._write(
            delete(revocation_events).where(revocation_events.c.expires_at < clock.now())
        )
