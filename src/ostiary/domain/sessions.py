"""Browser sessions at the authorization server, and failed back-channel logouts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: bytes
    user_id: str
    auth_time: int
    created_at: int
    expires_at: int
    sid: str
    amr: tuple[str, ...]
    # Set when an upstream provider named one (federation); else prompt.py decides.
    acr: str | None = None


@dataclass(frozen=True, slots=True)
class LogoutFailure:
    id: int
    client_id: str
    sid: str | None
    sub: str
    error: str
    attempts: int
    failed_at: int
