"""The audit trail in memory, append-only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ostiary import clock
from ostiary.domain.audit import PERSONAL_DETAILS, AuditEvent
from ostiary.storage.common.audit import Condition, QueriesAudit
from ostiary.storage.memory.tables import Tables


class MemoryAudit(QueriesAudit):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, e: AuditEvent) -> None:
        self._t.audit.append(dataclasses.replace(e, id=next(self._t.ids), at=e.at or clock.now()))

    async def add_many(self, events: Sequence[AuditEvent]) -> None:
        for e in events:
            await self.add(e)

    async def _select(self, conditions: list[Condition], limit: int) -> list[AuditEvent]:
        found = [
            e
            for e in self._t.audit
            if all(compare(getattr(e, name), value) for name, compare, value in conditions)
        ]
        return found[:limit]

    async def pseudonymise(self, user_id: str, pseudonym: str) -> int:
        changed = 0
        for i, e in enumerate(self._t.audit):
            if e.user_id == user_id:
                changed += 1
                details = {k: v for k, v in e.details.items() if k not in PERSONAL_DETAILS}
                e = dataclasses.replace(e, user_id=pseudonym, ip=None, details=details)
            if e.actor == f"user:{user_id}":
                e = dataclasses.replace(e, actor=f"user:{pseudonym}")
            self._t.audit[i] = e
        return changed

    async def purge_older_than(self, seconds: int) -> int:
        cutoff = clock.now() - seconds
        return self._t.drop("audit", lambda e: e.at < cutoff)
