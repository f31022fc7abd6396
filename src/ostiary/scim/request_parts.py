"""Reading a SCIM request (body, parameters, resource type, current resource) and
writing a SCIM response; shared by the read and write endpoints."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary import strict_json as json_input
from ostiary.scim.errors import MEDIA_TYPE, ScimError, not_found
from ostiary.scim.listing import ListQuery, list_query
from ostiary.scim.resource_type import REGISTRY, Loaded, ResourceType
from ostiary.scim.responses import parameters, render, skipped
from ostiary.scim.validation import MAX_BODY
from ostiary.services import Services


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _utf8(json.dumps(body, ensure_ascii=False)),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _utf8(text: str) -> bytes:
    """A value stored before lone surrogates were refused is served with U+FFFD in their
    place (RFC 8259 §8.1: JSON on the wire is UTF-8), never a failed response."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def error_response(error: ScimError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def base_url(services: Services) -> str:
    return services.settings.issuer.rstrip("/") + "/scim/v2"


def services_of(request: Request) -> Services:
    return request.scope["ostiary.services"]


def kind_of(request: Request) -> ResourceType:
    kind = REGISTRY.get(request.path_params["kind"])
    if kind is None:
        raise ScimError(404, f"no resource type at /{request.path_params['kind']}")
    return kind


def params_of(request: Request) -> dict[str, str]:
    """Query parameters; a repeated one is ambiguous and refused."""
    items = request.query_params.multi_items()
    names = [k.lower() for k, _ in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ScimError(400, f"the {repeated[0]} parameter is repeated", "invalidValue")
    return dict(items)


def query_of(request: Request) -> ListQuery:
    return list_query(params_of(request))


async def body_of(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ScimError(413, f"the body is larger than {MAX_BODY} bytes", "tooLarge")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ScimError(413, f"the body is larger than {MAX_BODY} bytes", "tooLarge")
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """RFC 7644 §3.12: a body that is not JSON is ``invalidSyntax``; JSON holding a string
    that is not valid Unicode (a lone surrogate) or a NUL is ``invalidValue``."""
    try:
        return json_input.loads(raw)
    except json_input.InvalidJson as exc:
        if exc.unicode:
            detail = f"strings must be valid Unicode without NUL characters ({exc.reason})"
            raise ScimError(400, detail, "invalidValue") from None
        raise ScimError(
            400, f"the body is not valid JSON ({exc.reason})", "invalidSyntax"
        ) from None


async def current(
    request: Request, kind: ResourceType, skip: frozenset[str] = frozenset()
) -> Loaded:
    services = services_of(request)
    ident = request.path_params["ident"]
    found = await kind.get(services, base_url(services), ident, skip)
    if found is None:
        raise not_found(kind.name, ident)
    return found


def skip_for(request: Request, kind: ResourceType) -> frozenset[str]:
    return skipped(kind.lazy, query_of(request))


def single(request: Request, kind: ResourceType, loaded: Loaded, status: int = 200) -> Response:
    query = query_of(request)
    wanted = parameters(kind.model, query.attributes, query.excluded_attributes)
    headers = {"ETag": loaded.version}
    if status == 201:
        headers["Location"] = str(loaded.body["meta"]["location"])
    return json_response(render(kind.model, loaded.body, wanted), status, headers)
