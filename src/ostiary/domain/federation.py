"""Upstream identity providers as configured, and identities linked from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    display_name: str
    preset: str
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    enabled: bool = True
    provisioning: str = "allow"
    trust_email: bool = False
    # The provider's amr/acr saying the user passed MFA upstream counts toward our policy.
    trust_mfa: bool = False
    store_tokens: bool = False
    mapping: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0

    def public_view(self, ostiary_issuer: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "preset": self.preset,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret_set": self.client_secret is not None,
            "scopes": list(self.scopes),
            "enabled": self.enabled,
            "provisioning": self.provisioning,
            "trust_email": self.trust_email,
            "trust_mfa": self.trust_mfa,
            "store_tokens": self.store_tokens,
            "mapping": list(self.mapping),
            "options": dict(self.options),
            "redirect_uri": redirect_uri(ostiary_issuer, self.name),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def redirect_uri(ostiary_issuer: str, name: str) -> str:
    """What to register at the upstream provider (exact match there, RFC 9700 §4.1.3)."""
    return f"{ostiary_issuer.rstrip('/')}/federation/{name}/callback"
