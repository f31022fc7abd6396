"""The ASGI entry mounted at /scim/v2: services from the parent app, authentication before
any routing (an unauthenticated caller learns nothing), and one place for errors."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ostiary.scim.app import ROUTES
from ostiary.scim.auth import authenticate
from ostiary.scim.errors import ScimError, unavailable
from ostiary.scim.request_parts import error_response as _error
from ostiary.storage.errors import describe, is_unavailable

log = logging.getLogger("ostiary.scim")
Endpoint = Callable[[Request], Awaitable[Response]]


async def _routing_error(request: Request, exc: Exception) -> Response:
    """No such path (404) or method (405): a §3.12 body like every other error."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    detail = f"{request.method} {request.url.path}: " + (
        "no such endpoint" if status == 404 else "method not allowed"
    )
    return _error(ScimError(status, detail, headers=headers))


def _guarded(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ScimError as error:
            return _error(error)
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("database unavailable on %s: %s", request.url.path, describe(exc))
                return _error(unavailable())
            # Never a stack trace or a stored value to the caller (RFC 7644 §3.12: 500).
            log.exception("SCIM %s %s failed", request.method, request.url.path)
            return _error(ScimError(500, "internal error"))

    return run


class ScimApp:
    def __init__(self) -> None:
        routes = [Route(r.path, _guarded(r.endpoint), methods=r.methods) for r in ROUTES]
        self.router = Starlette(routes=routes, exception_handlers={HTTPException: _routing_error})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        services = scope["app"].state.services
        scope["ostiary.services"] = services
        try:
            query = scope.get("query_string", b"")
            # PostgreSQL cannot hold NUL in text, not even as a parameter to compare with.
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                raise ScimError(400, "the URL must not contain NUL characters", "invalidValue")
            authorization = [
                v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"
            ]
            scope["scim.actor"] = await authenticate(services, authorization)
        except ScimError as error:
            await _error(error)(scope, receive, send)
            return
        await self.router(scope, receive, send)


def create_scim_app() -> ScimApp:
    return ScimApp()
