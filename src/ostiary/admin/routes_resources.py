"""/resources: the protected resources clients may name with resource= (RFC 8707)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from ostiary.admin import paging
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.operations import resources as resource_ops
from ostiary.admin.problems import documented
from ostiary.admin.resource_schemas import ResourceCreate, ResourceOut
from ostiary.admin.resources import location
from ostiary.admin.schemas import Page
from ostiary.domain.resources import MAX_URI

router = APIRouter(tags=["resources"])
ResourcePath = Annotated[
    str,
    Path(
        max_length=MAX_URI,
        description="The resource's URI, percent-encoded as one path segment "
        "(https%3A%2F%2Fapi.example.com).",
    ),
]


@router.get("/resources", response_model=Page[ResourceOut])
async def list_resources(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[ResourceOut]:
    rows, next_cursor = await paging.rows(services, "resources", "uri", cursor=cursor, limit=limit)
    return Page[ResourceOut](items=resource_ops.listed(rows), next_cursor=next_cursor)


@router.post("/resources", status_code=201, response_model=ResourceOut, responses=documented(409))
async def create_resource(
    body: ResourceCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ResourceOut:
    """Register a protected resource: clients may then ask for tokens with its URI as the
    audience, carrying only the scopes it accepts."""
    out = await resource_ops.create_resource(services, caller, body)
    response.headers["Location"] = location(request, "resources", out.uri)
    return out


@router.get("/resources/{uri:path}", response_model=ResourceOut, responses=documented(404))
async def get_resource(uri: ResourcePath, services: ServicesDep) -> ResourceOut:
    return resource_ops.resource_view(await resource_ops.resource_or_404(services, uri))


@router.delete("/resources/{uri:path}", status_code=204, responses=documented(404))
async def delete_resource(uri: ResourcePath, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete a protected resource: no token is issued for it any more."""
    await resource_ops.delete_resource(services, caller, uri)
    return Response(status_code=204)
