"""Protected resources (RFC 8707): registered, listed and deleted through the admin API,
with the command line's rules and audit events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ostiary.admin.auth import Caller
from ostiary.admin.problems import conflict, not_found, unprocessable
from ostiary.admin.resource_schemas import ResourceCreate, ResourceOut
from ostiary.admin.resources import record
from ostiary.domain.resources import Resource
from ostiary.oauth.resource_indicators import registration_problem
from ostiary.services import Services


def resource_view(resource: Resource) -> ResourceOut:
    return ResourceOut(
        uri=resource.uri,
        name=resource.name,
        scopes=sorted(resource.scopes),
        created_at=resource.created_at,
    )


def listed(rows: Sequence[Any]) -> list[ResourceOut]:
    """A page of resource rows (``paging.rows``) as the API shows them."""
    return [
        ResourceOut(uri=r.uri, name=r.name, scopes=sorted(r.scopes), created_at=r.created_at)
        for r in rows
    ]


async def resource_or_404(services: Services, uri: str) -> Resource:
    resource = await services.store.resources.get(uri)
    if resource is None:
        raise not_found(f"resource {uri!r}")
    return resource


async def create_resource(services: Services, caller: Caller, body: ResourceCreate) -> ResourceOut:
    """Register a resource (422 for a URI or scope the rules refuse, 409 if it exists)."""
    problem = registration_problem(body.uri, body.name, body.scopes)
    if problem is not None:
        raise unprocessable(problem)
    added = await services.store.resources.add(uri=body.uri, name=body.name, scopes=body.scopes)
    if added is None:
        raise conflict(f"resource {body.uri!r} exists already")
    out = resource_view(added)
    await record(services, caller, "resource.created", details={"after": out.model_dump()})
    return out


async def delete_resource(services: Services, caller: Caller, uri: str) -> None:
    """Delete a resource: tokens are no longer issued for it (those issued stay valid until
    they expire); codes and refresh tokens naming it are refused invalid_target."""
    before = resource_view(await resource_or_404(services, uri))
    if not await services.store.resources.delete(uri):
        raise not_found(f"resource {uri!r}")
    await record(services, caller, "resource.deleted", details={"before": before.model_dump()})
