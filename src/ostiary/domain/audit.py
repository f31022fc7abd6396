"""One audit event: who did what to whom, when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ostiary.domain.fields import field_values


@dataclass(frozen=True, slots=True)
class AuditEvent:
    type: str
    actor: str
    outcome: str = "success"
    user_id: str | None = None
    client_id: str | None = None
    ip: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: int = 0
    id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return field_values(self, _SHOWN)


# The order the audit trail's readers (admin API, CLI, exports) show an event's fields in.
_SHOWN = ("id", "at", "type", "actor", "outcome", "user_id", "client_id", "ip", "reason", "details")


PERSONAL_DETAILS = frozenset({"username", "email", "name", "before", "after"})
