"""The SCIM write endpoints: parse the request, run the operation (``operations``),
render. POST (RFC 7644 §3.3), PUT (§3.5.1), PATCH (§3.5.2), DELETE (§3.6)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.scim import operations
from ostiary.scim.request_parts import (
    base_url,
    body_of,
    current,
    kind_of,
    query_of,
    services_of,
    single,
    skip_for,
)


def target_of(request: Request) -> operations.Target:
    services = services_of(request)
    return operations.Target(
        services, base_url(services), kind_of(request), request.scope["scim.actor"]
    )


async def create(request: Request) -> Response:
    """RFC 7644 §3.3: POST /{type}; 201 with Location and ETag, 409 uniqueness."""
    target = target_of(request)
    created = await operations.create(target, await body_of(request))
    return single(request, target.kind, created, 201)


async def replace(request: Request) -> Response:
    """RFC 7644 §3.5.1: PUT replaces; readOnly attributes are ignored."""
    target = target_of(request)
    payload = await body_of(request)
    replaced = await operations.replace(
        target, request.path_params["ident"], payload, request.headers.get("if-match")
    )
    return single(request, target.kind, replaced)


async def patch(request: Request) -> Response:
    """RFC 7644 §3.5.2: PATCH with add / replace / remove operations.

    A type that can apply the operations as row changes (Group members) does so without
    loading the resource, and answers 204 with the new ETag unless ``attributes`` or
    ``excludedAttributes`` ask for a body; otherwise 200 with the patched resource."""
    target = target_of(request)
    payload = await body_of(request)
    done = await operations.patch(
        target, request.path_params["ident"], payload, request.headers.get("if-match")
    )
    if done is not None:
        return single(request, target.kind, done)
    query = query_of(request)
    kind = target.kind
    if query.attributes or query.excluded_attributes:
        return single(request, kind, await current(request, kind, skip_for(request, kind)))
    after = await current(request, kind, kind.lazy)
    return Response(status_code=204, headers={"ETag": after.version, "Cache-Control": "no-store"})


async def delete(request: Request) -> Response:
    """RFC 7644 §3.6: DELETE answers 204; a user's sessions and tokens die with it."""
    target = target_of(request)
    await operations.delete(target, request.path_params["ident"], request.headers.get("if-match"))
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
