"""Registering a client, as both client repositories take it."""

from __future__ import annotations

import dataclasses
import secrets
from abc import ABC, abstractmethod
from typing import Any

from ostiary import clock
from ostiary.domain.clients import OIDC_FIELDS, Client

# The fields a caller may leave out, with the type's own defaults: the registration's and
# the MFA policy, and the sealed secret of a client_secret_jwt client.
_OPTIONAL = {
    f.name: f.default
    for f in dataclasses.fields(Client)
    if f.name in OIDC_FIELDS or f.name in ("require_mfa", "secret_sealed")
}


def _optional_values(given: dict[str, Any]) -> dict[str, Any]:
    unknown = set(given) - set(_OPTIONAL)
    if unknown:
        raise ValueError(f"unknown client fields {sorted(unknown)}")
    return {**_OPTIONAL, **{k: v for k, v in given.items() if v is not None}}


def new_client_id() -> str:
    """128 random bits, URL-safe, never starting with '-' (a command line would take it
    for an option) or '_'."""
    while True:
        candidate = secrets.token_urlsafe(16)
        if candidate[0].isalnum():
            return candidate


class RegistersClients(ABC):
    """``Clients.add``: the registration's column values (lists where ``Client`` holds
    tuples and sets), stored by ``_store``."""

    async def add(
        self,
        *,
        name: str,
        secret_hash: bytes | None,
        public: bool,
        token_endpoint_auth_method: str,
        redirect_uris: list[str],
        grant_types: list[str],
        scopes: list[str],
        audience: list[str] | None = None,
        first_party: bool = False,
        access_token_ttl: int | None = None,
        refresh_token_ttl: int | None = None,
        client_id: str | None = None,
        **oidc: Any,
    ) -> Client:
        values = {
            "client_id": client_id or new_client_id(),
            "name": name,
            "secret_hash": secret_hash,
            "public": public,
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "redirect_uris": list(redirect_uris),
            "grant_types": list(grant_types),
            "scopes": sorted(set(scopes)),
            "audience": list(audience or []),
            "first_party": first_party,
            "access_token_ttl": access_token_ttl,
            "refresh_token_ttl": refresh_token_ttl,
            "created_at": clock.now(),
            **_optional_values(oidc),
        }
        # A chosen client id may have been used before (deleted, registered again): tokens
        # from its earlier life, even from this very second, are never revived.
        values["tokens_valid_after"] = values["created_at"] + (1 if client_id else 0)
        return await self._store(values)

    @abstractmethod
    async def _store(self, values: dict[str, Any]) -> Client:
        """Store the registration (``ValueError`` if its id is taken) and return it."""
