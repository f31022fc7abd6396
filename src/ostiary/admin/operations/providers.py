"""Upstream identity providers (federation): add, change, delete, as ``ostiary provider``.

Settings are checked as a whole, the same way at every door: the mapping rules parse,
the preset's connector completes and accepts the provider, ``check_provider`` the rest.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary.admin.auth import Caller
from ostiary.admin.problems import conflict, not_found, unprocessable
from ostiary.admin.provider_schemas import ProviderCreate, ProviderOut, ProviderPatch
from ostiary.admin.resources import record
from ostiary.domain.federation import DuplicateProviderError
from ostiary.federation.connectors import connector_for
from ostiary.federation.mapping import MappingError, parse_rules
from ostiary.federation.providers import Provider, ProviderConfigError, check_provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository


def _repo(services: Services) -> ProviderRepository:
    return ProviderRepository(services.engine, client_secrets(services.settings))


def view(services: Services, provider: Provider) -> ProviderOut:
    return ProviderOut.model_validate(provider.public_view(services.settings.issuer))


def _checked(provider: Provider) -> Provider:
    """The same checks as the CLI: the rules parse, the preset's connector accepts it."""
    try:
        parse_rules(provider.mapping)
        return check_provider(connector_for(provider.preset).configure(provider))
    except (ProviderConfigError, MappingError, ValueError) as exc:
        raise unprocessable(str(exc)) from None


def _changes(body: ProviderCreate | ProviderPatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in body.model_fields_set - {"name", "preset"}:
        value = getattr(body, name)
        if name == "client_secret":
            changes[name] = value  # null removes the secret
        elif value is None:
            continue
        elif name in ("scopes", "mapping"):
            changes[name] = tuple(value)
        else:
            changes[name] = value
    return changes


async def listing(services: Services) -> list[ProviderOut]:
    """Every provider by name (a handful: one page)."""
    return [view(services, p) for p in await _repo(services).list()]


async def get(services: Services, name: str) -> ProviderOut:
    return view(services, await _provider_or_404(services, name))


async def _provider_or_404(services: Services, name: str) -> Provider:
    provider = await _repo(services).get(name)
    if provider is None:
        raise not_found(f"provider {name!r}")
    return provider


async def create(services: Services, caller: Caller, body: ProviderCreate) -> ProviderOut:
    """Add a provider; its ``redirect_uri`` is what to register at the provider."""
    try:
        base = body.started()
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    provider = _checked(dataclasses.replace(base, **_changes(body)))
    try:
        provider = await _repo(services).add(provider)
    except DuplicateProviderError:
        raise conflict(f"provider {body.name!r} exists already") from None
    out = view(services, provider)
    await record(services, caller, "provider.created", details={"after": out.model_dump()})
    return out


async def change(services: Services, caller: Caller, name: str, body: ProviderPatch) -> ProviderOut:
    """Change a provider; the result is checked as a whole, as at creation. The audit
    event names the changed members, and only that the secret changed, never its value."""
    current = await _provider_or_404(services, name)
    changed_secret = "client_secret" in body.model_fields_set
    provider = _checked(dataclasses.replace(current, **_changes(body)))
    provider = await _repo(services).replace(provider)
    old, new = view(services, current).model_dump(), view(services, provider).model_dump()
    changed = sorted(k for k in new if old[k] != new[k] and k != "updated_at")
    if changed or changed_secret:
        details: dict[str, Any] = {
            "name": name,
            "before": {k: old[k] for k in changed},
            "after": {k: new[k] for k in changed},
        }
        if changed_secret:
            details["client_secret_changed"] = True
        await record(services, caller, "provider.updated", details=details)
    return ProviderOut.model_validate(new)


async def delete(services: Services, caller: Caller, name: str) -> None:
    """Delete a provider and every identity linked through it (the accounts stay)."""
    if not await _repo(services).delete(name):
        raise not_found(f"provider {name!r}")
    await record(services, caller, "provider.deleted", details={"name": name})
