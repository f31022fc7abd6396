"""One entry of the revocation feed: tokens issued before a moment stop working."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary.domain.fields import field_values


@dataclass(frozen=True, slots=True)
class RevocationEvent:
    kind: str
    value: str
    not_before: int
    expires_at: int
    id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return field_values(self, ("id", "kind", "value", "not_before", "expires_at"))
