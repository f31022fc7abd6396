"""The SCIM endpoints under /scim/v2 (RFC 7644 §3): a small Starlette app, mounted by
``web.app``. Each handler parses the request, calls the resource type, renders; every
error leaves through ``_error`` as a §3.12 body."""

from __future__ import annotations

import json
from typing import Any

from scim2_models import Context
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.scim import discovery, groups, users  # noqa: F401  (registers the types)
from ostiary.scim.errors import MEDIA_TYPE, ScimError, not_found
from ostiary.scim.etags import check_if_match, not_modified, stamp
from ostiary.scim.listing import list_query
from ostiary.scim.patch import apply_patch
from ostiary.scim.resource_type import REGISTRY, ResourceType
from ostiary.scim.responses import parameters, render, render_list
from ostiary.scim.validation import MAX_BODY, keep_read_only, read_resource
from ostiary.services import Services


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _error(error: ScimError) -> Response:
    return _json(error.body(), error.status, error.headers)


def _base(services: Services) -> str:
    return services.settings.issuer.rstrip("/") + "/scim/v2"


def _kind(request: Request) -> ResourceType:
    kind = REGISTRY.get(request.path_params["kind"])
    if kind is None:
        raise ScimError(404, f"no resource type at /{request.path_params['kind']}")
    return kind


async def _body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ScimError(413, f"the body is larger than {MAX_BODY} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ScimError(413, f"the body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ScimError(400, "the body is not valid JSON", "invalidSyntax") from None
    if _holds_nul(body):
        # PostgreSQL cannot store NUL in text; no attribute needs one.
        raise ScimError(400, "strings must not contain NUL characters", "invalidValue")
    return body


def _holds_nul(body: Any) -> bool:
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def _current(request: Request, kind: ResourceType) -> Any:
    ident = request.path_params["ident"]
    services = _svc(request)
    resource = await kind.get(services, _base(services), ident)
    if resource is None:
        raise not_found(kind.name, ident)
    return resource


def _version(resource: Any) -> str:
    stamp(resource)
    return str(resource.meta.version)


def _svc(request: Request) -> Services:
    return request.scope["ostiary.services"]


def _params(request: Request) -> dict[str, str]:
    """Query parameters; a repeated one is ambiguous and refused."""
    items = request.query_params.multi_items()
    names = [k.lower() for k, _ in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ScimError(400, f"the {repeated[0]} parameter is repeated", "invalidValue")
    return dict(items)


def _single(request: Request, kind: ResourceType, resource: Any, status: int = 200) -> Response:
    query = list_query(_params(request))
    body = render(resource, parameters(kind.model, query.attributes, query.excluded_attributes))
    headers = {"ETag": resource.meta.version}
    if status == 201:
        headers["Location"] = resource.meta.location
    return _json(body, status, headers)


async def list_resources(request: Request) -> Response:
    """RFC 7644 §3.4.2: GET /{type} with filter, sortBy, startIndex, count."""
    return await _search(request, _params(request))


async def search(request: Request) -> Response:
    """RFC 7644 §3.4.3: POST /{type}/.search with a SearchRequest body."""
    body = await _body(request)
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    return await _search(request, {k: v for k, v in body.items() if k != "schemas"})


async def _search(request: Request, params: dict[str, Any]) -> Response:
    kind = _kind(request)
    services = _svc(request)
    query = list_query(params)
    where = query.where(kind.catalogue, services.engine.dialect.name)
    order = query.order_by(kind.catalogue)
    total, found = await kind.page(
        services, _base(services), where, order, query.start_index - 1, query.count
    )
    return _json(render_list(kind.model, query, total, found))


async def create(request: Request) -> Response:
    """RFC 7644 §3.3: POST /{type}; 201 with Location and ETag, 409 uniqueness."""
    kind = _kind(request)
    services = _svc(request)
    payload = await _body(request)
    resource = read_resource(
        kind.model, payload, Context.RESOURCE_CREATION_REQUEST, _base(services)
    )
    created = await kind.create(services, _base(services), resource, request.scope["scim.actor"])
    return _single(request, kind, created, 201)


async def get_resource(request: Request) -> Response:
    """RFC 7644 §3.4.1, with If-None-Match (§3.14)."""
    kind = _kind(request)
    resource = await _current(request, kind)
    stamp(resource)
    version = resource.meta.version
    if not_modified(request.headers.get("if-none-match"), version):
        return Response(status_code=304, headers={"ETag": version})
    return _single(request, kind, resource)


async def replace(request: Request) -> Response:
    """RFC 7644 §3.5.1: PUT replaces; readOnly attributes are ignored."""
    kind = _kind(request)
    services = _svc(request)
    before = await _current(request, kind)
    check_if_match(request.headers.get("if-match"), _version(before))
    payload = await _body(request)
    after = read_resource(
        kind.model, payload, Context.RESOURCE_REPLACEMENT_REQUEST, _base(services)
    )
    # RFC 7644 §3.5.1: readOnly values are kept; a changed immutable value is a 400.
    keep_read_only(after, before)
    replaced = await kind.replace(
        services, _base(services), before, after, request.scope["scim.actor"]
    )
    return _single(request, kind, replaced)


async def patch(request: Request) -> Response:
    """RFC 7644 §3.5.2: PATCH with add / replace / remove operations."""
    kind = _kind(request)
    services = _svc(request)
    before = await _current(request, kind)
    check_if_match(request.headers.get("if-match"), _version(before))
    patched = apply_patch(before, await _body(request), _base(services))
    patched.id = before.id
    replaced = await kind.replace(
        services, _base(services), before, patched, request.scope["scim.actor"]
    )
    return _single(request, kind, replaced)


async def delete(request: Request) -> Response:
    """RFC 7644 §3.6: DELETE answers 204; a user's sessions and tokens die with it."""
    kind = _kind(request)
    services = _svc(request)
    before = await _current(request, kind)
    check_if_match(request.headers.get("if-match"), _version(before))
    await kind.delete(services, str(before.id), request.scope["scim.actor"])
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


async def service_provider_config(request: Request) -> Response:
    """RFC 7644 §4."""
    return _json(discovery.service_provider_config(_base(_svc(request))))


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
    return _json(_listed(discovery.resource_types(_base(_svc(request)))))


async def resource_type(request: Request) -> Response:
    for item in discovery.resource_types(_base(_svc(request))):
        if item["id"] == request.path_params["ident"]:
            return _json(item)
    raise not_found("ResourceType", request.path_params["ident"])


async def schemas(request: Request) -> Response:
    """RFC 7644 §4: the schemas, as a ListResponse."""
    return _json(_listed(discovery.schemas(_base(_svc(request)))))


async def schema(request: Request) -> Response:
    for item in discovery.schemas(_base(_svc(request))):
        if item["id"] == request.path_params["ident"]:
            return _json(item)
    raise not_found("Schema", request.path_params["ident"])


async def method_not_allowed(request: Request) -> Response:
    """RFC 7644 §4: the discovery endpoints are read-only."""
    raise ScimError(405, f"{request.method} is not allowed on {request.url.path}")


async def not_implemented(request: Request) -> Response:
    """RFC 7644 §3.11 /Me, §3.7 Bulk (advertised unsupported), root-level search."""
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
    Route("/Bulk", not_implemented, methods=["POST"]),
    Route("/.search", not_implemented, methods=["POST"]),
    Route("/{kind}", list_resources, methods=["GET"]),
    Route("/{kind}", create, methods=["POST"]),
    Route("/{kind}/.search", search, methods=["POST"]),
    Route("/{kind}/{ident}", get_resource, methods=["GET"]),
    Route("/{kind}/{ident}", replace, methods=["PUT"]),
    Route("/{kind}/{ident}", patch, methods=["PATCH"]),
    Route("/{kind}/{ident}", delete, methods=["DELETE"]),
]
