"""Each resource as a state-document entry: the one form export writes and import compares.

No timestamps (they would make every export differ), no secret in clear: a client's
secret is its stored SHA-256 digest, an upstream client secret is sealed (``sealing``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ostiary.domain.access import Role, Scope
from ostiary.domain.clients import Client
from ostiary.federation.providers import Provider
from ostiary.portable.snapshot import GroupState, UserState

# Shown by the admin API but derived, not configuration.
_PROVIDER_DERIVED = ("client_secret_set", "redirect_uri", "created_at", "updated_at")


def encode_hash(digest: bytes | None) -> str | None:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() if digest else None


def decode_hash(text: str) -> bytes:
    try:
        digest = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("client_secret_hash: not base64url") from None
    if len(digest) != 32:
        raise ValueError("client_secret_hash: not a SHA-256 digest (32 bytes)")
    return digest


def client_entry(client: Client) -> dict[str, Any]:
    """The registration as ``ostiary client show --json`` prints it, and the secret's hash."""
    entry = client.public_view()
    del entry["created_at"]
    entry["client_secret_hash"] = encode_hash(client.secret_hash)
    return entry


def role_entry(role: Role) -> dict[str, Any]:
    return {"name": role.name, "description": role.description, "require_mfa": role.require_mfa}


def scope_entry(scope: Scope) -> dict[str, Any]:
    return {
        "name": scope.name,
        "description": scope.description,
        "required_roles": sorted(scope.required_roles),
    }


def group_entry(state: GroupState) -> dict[str, Any]:
    return {
        "id": state.group.id,
        "name": state.group.name,
        "external_id": state.group.external_id,
        "require_mfa": state.group.require_mfa,
        "parents": sorted(state.parents),
        "roles": sorted(state.roles),
    }


def provider_entry(provider: Provider, sealed_secret: str | None) -> dict[str, Any]:
    entry = provider.public_view("")
    for name in _PROVIDER_DERIVED:
        del entry[name]
    entry["client_secret_sealed"] = sealed_secret
    return entry


def user_entry(state: UserState) -> dict[str, Any]:
    user = state.user
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "phone_number": user.phone_number,
        "phone_number_verified": user.phone_number_verified,
        "profile": user.profile,
        "password_hash": user.password_hash,
        "disabled": user.disabled,
        "roles": sorted(state.roles),
        "groups": sorted(state.groups),
        "links": [{"provider": p, "subject": s} for p, s in sorted(state.links)],
    }
