"""Identities linked from upstream identity providers."""

from __future__ import annotations

from dataclasses import dataclass


class AlreadyLinkedError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class LinkedIdentity:
    provider: str
    subject: str
    user_id: str
    email: str | None
    created_at: int
    last_login_at: int


@dataclass(frozen=True, slots=True)
class PendingRequest:
    state_hash: bytes
    browser_hash: bytes
    provider: str
    nonce: str
    code_verifier_sealed: bytes
    interaction_id: str | None
    link_user_id: str | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class SealedTokens:
    access_token: bytes | None
    refresh_token: bytes | None
    expires_at: int | None


class DuplicateProviderError(Exception):
    pass
