"""The SCIM endpoints under /scim/v2 (RFC 7644 §3): a small Starlette app, mounted by
``web.app``. Each handler parses the request, calls the resource type, renders; every
error leaves through ``_error`` as a §3.12 body."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.scim import bulk, discovery, groups, users  # noqa: F401  (registers the types)
from ostiary.scim.errors import ScimError, not_found
from ostiary.scim.etags import not_modified
from ostiary.scim.listing import list_query
from ostiary.scim.request_parts import (
    base_url,
    body_of,
    current,
    json_response,
    kind_of,
    params_of,
    services_of,
    single,
    skip_for,
)
from ostiary.scim.resource_type import Search
from ostiary.scim.responses import render_list, skipped
from ostiary.scim.writes import create, delete, patch, replace


def _base(request: Request) -> str:
    return base_url(services_of(request))


async def list_resources(request: Request) -> Response:
    """RFC 7644 §3.4.2: GET /{type} with filter, sortBy, startIndex, count."""
    return await _search(request, params_of(request))


async def search(request: Request) -> Response:
    """RFC 7644 §3.4.3: POST /{type}/.search with a SearchRequest body."""
    body = await body_of(request)
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    return await _search(request, {k: v for k, v in body.items() if k != "schemas"})


async def _search(request: Request, params: dict[str, Any]) -> Response:
    kind = kind_of(request)
    services = services_of(request)
    query = list_query(params)
    where = query.where(kind.catalogue, services.engine.dialect.name)
    order = query.order_by(kind.catalogue)
    search = Search(where, order, query.start_index - 1, query.count, skipped(kind.lazy, query))
    total, found = await kind.page(services, base_url(services), search)
    return json_response(render_list(kind.model, query, total, found))


async def get_resource(request: Request) -> Response:
    """RFC 7644 §3.4.1, with If-None-Match (§3.14); a group's members are not read when
    the caller excluded them."""
    kind = kind_of(request)
    loaded = await current(request, kind, skip_for(request, kind))
    if not_modified(request.headers.get("if-none-match"), loaded.version):
        return Response(status_code=304, headers={"ETag": loaded.version})
    return single(request, kind, loaded)


async def service_provider_config(request: Request) -> Response:
    """RFC 7644 §4."""
    return json_response(discovery.service_provider_config(_base(request)))


def _listed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": len(items),
        "startIndex": 1,
        "itemsPerPage": len(items),
        "Resources": items,
    }


async def resource_types(request: Request) -> Response:
    """RFC 7644 §4: the resource types, as a ListResponse."""
    return json_response(_listed(discovery.resource_types(_base(request))))


async def resource_type(request: Request) -> Response:
    return _one(request, "ResourceType", discovery.resource_types(_base(request)))


async def schemas(request: Request) -> Response:
    """RFC 7644 §4: the schemas, as a ListResponse."""
    return json_response(_listed(discovery.schemas(_base(request))))


async def schema(request: Request) -> Response:
    return _one(request, "Schema", discovery.schemas(_base(request)))


def _one(request: Request, kind: str, items: list[dict[str, Any]]) -> Response:
    """The discovery item the path names by id (RFC 7644 §4), or a 404."""
    for item in items:
        if item["id"] == request.path_params["ident"]:
            return json_response(item)
    raise not_found(kind, request.path_params["ident"])


async def method_not_allowed(request: Request) -> Response:
    """RFC 7644 §4: the discovery endpoints are read-only."""
    raise ScimError(405, f"{request.method} is not allowed on {request.url.path}")


async def bulk_request(request: Request) -> Response:
    """RFC 7644 §3.7: POST /Bulk; 200 with each operation's own status."""
    operations, fail_on = bulk.parse(await body_of(request))
    services = services_of(request)
    job = bulk.BulkJob(services, base_url(services), request.scope["scim.actor"])
    return json_response(bulk.response(await job.run(operations, fail_on)))


async def not_implemented(request: Request) -> Response:
    """RFC 7644 §3.11 /Me, root-level search."""
    raise ScimError(501, f"{request.url.path} is not implemented by this service provider")


ROUTES = [
    Route("/ServiceProviderConfig", service_provider_config, methods=["GET"]),
    Route("/ResourceTypes", resource_types, methods=["GET"]),
    Route("/ResourceTypes/{ident}", resource_type, methods=["GET"]),
    Route("/Schemas", schemas, methods=["GET"]),
    Route("/Schemas/{ident:path}", schema, methods=["GET"]),
    *[
        Route(path, method_not_allowed, methods=["POST", "PUT", "PATCH", "DELETE"])
        for path in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas")
    ],
    Route("/Me", not_implemented, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    Route("/Bulk", bulk_request, methods=["POST"]),
    Route("/.search", not_implemented, methods=["POST"]),
    Route("/{kind}", list_resources, methods=["GET"]),
    Route("/{kind}", create, methods=["POST"]),
    Route("/{kind}/.search", search, methods=["POST"]),
    Route("/{kind}/{ident}", get_resource, methods=["GET"]),
    Route("/{kind}/{ident}", replace, methods=["PUT"]),
    Route("/{kind}/{ident}", patch, methods=["PATCH"]),
    Route("/{kind}/{ident}", delete, methods=["DELETE"]),
]
