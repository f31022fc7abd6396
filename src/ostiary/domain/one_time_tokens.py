"""Single-use tokens (password reset, email verification)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    token_hash: bytes
    user_id: str
    purpose: str
    email: str | None
    created_at: int
    expires_at: int
    used_at: int | None
