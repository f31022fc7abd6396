"""A stored signing key (private part sealed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    alg: str
    private_sealed: bytes
    public_jwk: dict[str, Any]
    created_at: int
    activates_at: int
    retired_at: int | None
    expires_at: int | None
