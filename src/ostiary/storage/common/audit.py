"""Reading the audit trail, as both audit repositories take the question."""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ostiary.domain.audit import AuditEvent

# An ``AuditEvent`` field, how it must compare with the value, and the value.
Condition = tuple[str, Callable[[Any, Any], Any], Any]


class QueriesAudit(ABC):
    """``Audit.query``: the filters given, as conditions ``_select`` applies."""

    async def query(
        self,
        *,
        user_id: str | None = None,
        since: int | None = None,
        type: str | None = None,
        client_id: str | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        asked: list[Condition] = [
            ("user_id", operator.eq, user_id),
            ("at", operator.ge, since),
            ("type", operator.eq, type),
            ("client_id", operator.eq, client_id),
            ("id", operator.gt, after_id),
        ]
        return await self._select([c for c in asked if c[2] is not None], limit)

    @abstractmethod
    async def _select(self, conditions: list[Condition], limit: int) -> list[AuditEvent]:
        """The first ``limit`` events, by id, that meet every condition."""
