"""Token, revocation and introspection endpoints: raw body in, JSON out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.errors import invalid_request
from ostiary.oauth import introspection, revocation, token_endpoint
from ostiary.services import Services
from ostiary.web.responses import NO_STORE, json_response, protocol_endpoint

FORM = "application/x-www-form-urlencoded"


async def _form_body(request: Request) -> bytes:
    # RFC 6749 §3.2: the client MUST use POST with form-encoded parameters.
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != FORM:
        raise invalid_request(f"Content-Type must be {FORM}")
    return await request.body()


def _services(request: Request) -> Services:
    return request.app.state.services


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@protocol_endpoint
async def token(request: Request) -> Response:
    body = await _form_body(request)
    result = await token_endpoint.token(
        _services(request), body, request.headers.get("authorization"), _ip(request)
    )
    # RFC 6749 §5.1: responses carrying tokens MUST NOT be cached.
    return json_response(result, headers=NO_STORE)


@protocol_endpoint
async def revoke(request: Request) -> Response:
    body = await _form_body(request)
    await revocation.revoke(
        _services(request), body, request.headers.get("authorization"), _ip(request)
    )
    # RFC 7009 §2.2: 200 whether or not the token was known.
    return Response(status_code=200, headers=NO_STORE)


@protocol_endpoint
async def introspect(request: Request) -> Response:
    body = await _form_body(request)
    result = await introspection.introspect(
        _services(request), body, request.headers.get("authorization"), _ip(request)
    )
    return json_response(result, headers=NO_STORE)
