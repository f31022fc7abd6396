"""/providers: upstream identity providers (federation), as ``ostiary provider`` manages them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.operations import providers
from ostiary.admin.problems import documented
from ostiary.admin.provider_schemas import ProviderCreate, ProviderOut, ProviderPatch
from ostiary.admin.resources import location
from ostiary.admin.schemas import Page

router = APIRouter(prefix="/providers", tags=["providers"])
ProviderPath = Annotated[str, Path(max_length=200, description="The provider's name.")]


@router.get("", response_model=Page[ProviderOut])
async def list_providers(services: ServicesDep) -> Page[ProviderOut]:
    """Every provider by name (a handful: one page)."""
    return Page[ProviderOut](items=await providers.listing(services))


@router.post("", status_code=201, response_model=ProviderOut, responses=documented(409))
async def create_provider(
    body: ProviderCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ProviderOut:
    """Add a provider; register the returned ``redirect_uri`` at it."""
    out = await providers.create(services, caller, body)
    response.headers["Location"] = location(request, "providers", out.name)
    return out


@router.get("/{name}", response_model=ProviderOut, responses=documented(404))
async def get_provider(name: ProviderPath, services: ServicesDep) -> ProviderOut:
    return await providers.get(services, name)


@router.patch("/{name}", response_model=ProviderOut, responses=documented(404))
async def update_provider(
    name: ProviderPath, body: ProviderPatch, services: ServicesDep, caller: CallerDep
) -> ProviderOut:
    """Change a provider; the result is checked as a whole, as at creation."""
    return await providers.change(services, caller, name, body)


@router.delete("/{name}", status_code=204, responses=documented(404))
async def delete_provider(name: ProviderPath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete a provider and every identity linked through it (the accounts stay)."""
    await providers.delete(services, caller, name)
    return Response(status_code=204)
