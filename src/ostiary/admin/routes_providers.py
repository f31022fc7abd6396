"""/providers: upstream identity providers (federation), as ``ostiary provider`` manages them."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.problems import conflict, documented, not_found, unprocessable
from ostiary.admin.provider_schemas import ProviderCreate, ProviderOut, ProviderPatch
from ostiary.admin.resources import created, record
from ostiary.admin.schemas import Page
from ostiary.domain.federation import DuplicateProviderError
from ostiary.federation.connectors import connector_for
from ostiary.federation.mapping import MappingError, parse_rules
from ostiary.federation.providers import Provider, ProviderConfigError, check_provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository

router = APIRouter(prefix="/providers", tags=["providers"])
ProviderPath = Annotated[str, Path(max_length=200, description="The provider's name.")]


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


async def _provider_or_404(services: Services, name: str) -> Provider:
    provider = await _repo(services).get(name)
    if provider is None:
        raise not_found(f"provider {name!r}")
    return provider


@router.get("", response_model=Page[ProviderOut])
async def list_providers(services: ServicesDep) -> Page[ProviderOut]:
    """Every provider by name (a handful: one page)."""
    return Page[ProviderOut](items=[view(services, p) for p in await _repo(services).list()])


@router.post("", status_code=201, response_model=ProviderOut, responses=documented(409))
async def create_provider(
    body: ProviderCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ProviderOut:
    """Add a provider; register the returned ``redirect_uri`` at it."""
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
    after = out.model_dump()
    await created(
        services, caller, request, response, "provider.created", after, "providers", provider.name
    )
    return out


@router.get("/{name}", response_model=ProviderOut, responses=documented(404))
async def get_provider(name: ProviderPath, services: ServicesDep) -> ProviderOut:
    return view(services, await _provider_or_404(services, name))


@router.patch("/{name}", response_model=ProviderOut, responses=documented(404))
async def update_provider(
    name: ProviderPath, body: ProviderPatch, services: ServicesDep, caller: CallerDep
) -> ProviderOut:
    """Change a provider; the result is checked as a whole, as at creation."""
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


@router.delete("/{name}", status_code=204, responses=documented(404))
async def delete_provider(name: ProviderPath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete a provider and every identity linked through it (the accounts stay)."""
    if not await _repo(services).delete(name):
        raise not_found(f"provider {name!r}")
    await record(services, caller, "provider.deleted", details={"name": name})
    return Response(status_code=204)
