"""One audit event: who did what to whom, when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        return {
            "id": self.id,
            "at": self.at,
            "type": self.type,
            "actor": self.actor,
            "outcome": self.outcome,
            "user_id": self.user_id,
            "client_id": self.client_id,
            "ip": self.ip,
            "reason": self.reason,
            "details": self.details,
        }


PERSONAL_DETAILS = frozenset({"username", "email", "name", "before", "after"})
