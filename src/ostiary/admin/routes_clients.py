"""/clients: registrations (RFC 7591 metadata names); the work is ``admin.operations.clients``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from ostiary.admin import paging
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.client_schemas import ClientCreate, ClientCreated, ClientOut, ClientPatch
from ostiary.admin.operations import clients
from ostiary.admin.problems import documented
from ostiary.admin.resources import ClientIdPath, client_or_404, location
from ostiary.admin.schemas import Count, Page

router = APIRouter(prefix="/clients", tags=["clients"])


class ClientSecret(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown in this response only (RFC 7591 §3.2.1).")


@router.get("", response_model=Page[ClientOut])
async def list_clients(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[ClientOut]:
    """Clients by client_id."""
    items, next_cursor = await clients.page(services, cursor=cursor, limit=limit)
    return Page[ClientOut](items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ClientCreated, responses=documented(409))
async def create_client(
    body: ClientCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ClientCreated:
    """Register a client. A confidential client's secret is in this response only."""
    out, secret = await clients.create(services, caller, body)
    response.headers["Location"] = location(request, "clients", out.client_id)
    # The secret is shown once; no cache may keep it (RFC 7591 §3.2.1, RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    return ClientCreated(**out.model_dump(), client_secret=secret)


@router.get("/{client_id}", response_model=ClientOut, responses=documented(404))
async def get_client(client_id: ClientIdPath, services: ServicesDep) -> ClientOut:
    return clients.view(await client_or_404(services, client_id))


@router.patch("/{client_id}", response_model=ClientOut, responses=documented(404, 409))
async def update_client(
    client_id: ClientIdPath, body: ClientPatch, services: ServicesDep, caller: CallerDep
) -> ClientOut:
    """Change a registration; the result is checked as a whole, as at creation. The admin
    console's own client is refused (409)."""
    return await clients.change(services, caller, client_id, body)


@router.delete("/{client_id}", status_code=204, responses=documented(404, 409))
async def delete_client(
    client_id: ClientIdPath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Delete a client. Every token it holds dies first, and registering the same
    client_id again revives none. The admin console's own client is refused (409)."""
    await clients.delete(services, caller, client_id)
    return Response(status_code=204)


@router.post("/{client_id}/revoke-tokens", response_model=Count, responses=documented(404))
async def revoke_client_tokens(
    client_id: ClientIdPath, services: ServicesDep, caller: CallerDep
) -> Count:
    """Revoke every token the client holds: its refresh tokens, and every access token
    issued to it up to now (RFC 7009 §2.1, for a whole client). ``count`` is the number
    of refresh tokens revoked."""
    return Count(count=await clients.revoke_tokens(services, caller, client_id))


@router.post(
    "/{client_id}/rotate-secret", response_model=ClientSecret, responses=documented(404, 409)
)
async def rotate_client_secret(
    client_id: ClientIdPath, services: ServicesDep, caller: CallerDep, response: Response
) -> ClientSecret:
    """A new secret for a confidential client, in this response only; the old one stops
    working at once. A public client has none (409)."""
    secret = await clients.rotate_secret(services, caller, client_id)
    response.headers["Cache-Control"] = "no-store"
    return ClientSecret(client_id=client_id, client_secret=secret)


@router.post("/{client_id}/unlock", response_model=Count, responses=documented(404))
async def unlock_client(client_id: ClientIdPath, services: ServicesDep, caller: CallerDep) -> Count:
    """Clear the client-authentication failure counters and locks of the client, from every
    address."""
    return Count(count=await clients.unlock(services, caller, client_id))
