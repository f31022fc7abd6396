"""The admin REST API: a FastAPI app mounted at /admin/api/v1 by ``web.app``.

A mounted app does not see the parent's ``app.state``: Starlette's ``Mount`` hands the
request on with ``scope["app"]`` still naming the parent, and FastAPI replaces it with
itself as soon as it is called. ``AdminApi`` is the thin ASGI entry in between: it takes
the services from the parent (or from the callable given, for tests and embedding),
rejects what no endpoint could store, and authenticates the Bearer token before FastAPI
parses anything, so an unauthenticated caller learns nothing, not even which routes exist.
A JSON body is then checked for what FastAPI's parser would let through but nothing can
store or serve (``request_body``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import Message, Receive, Scope, Send

from ostiary.admin import (
    request_body,
    routes_audit,
    routes_clients,
    routes_groups,
    routes_providers,
    routes_resources,
    routes_roles_scopes,
    routes_user_links,
    routes_users,
)
from ostiary.admin.auth import CALLER_KEY, SERVICES_KEY, authenticate, bearer_scheme, refusal
from ostiary.admin.problems import NO_STORE, Problem, ProblemDetails, documented, problem_response
from ostiary.admin.problems import install as install_problems
from ostiary.resource.bearer import single_header
from ostiary.resource.errors import ResourceError
from ostiary.services import Services

PUBLIC_PATHS = frozenset({"/openapi.json"})


def create_admin_api(services: Callable[[], Services] | None = None) -> AdminApi:
    """The ASGI app to mount; without ``services`` it uses the parent app's
    ``state.services`` (set in ``web.app``'s lifespan)."""
    return AdminApi(build_fastapi(), services)


def build_fastapi() -> FastAPI:
    api = FastAPI(
        title="Ostiary admin API",
        version="1",
        description="Manage users, clients, roles, groups, scopes, protected resources and "
        "read the audit log. "
        "Reading needs the ostiary:admin:read or ostiary:admin scope; changing needs "
        "ostiary:admin. Every error is an RFC 9457 problem details object.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(bearer_scheme)],
        responses=documented(400, 401, 403, 422),
    )
    install_problems(api)
    for module in (
        routes_users,
        routes_user_links,
        routes_clients,
        routes_roles_scopes,
        routes_resources,
        routes_providers,
        routes_audit,
    ):
        api.include_router(module.router)
    api.include_router(routes_groups.router)
    api.include_router(routes_groups.members_router)
    _document_problems(api)
    return api


def _document_problems(api: FastAPI) -> None:
    """Add the ProblemDetails schema that ``problems.documented`` refers to."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = generate()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["ProblemDetails"] = ProblemDetails.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        assert api.openapi_schema is not None
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


class AdminApi:
    """ASGI entry: services, input hygiene and authentication, then FastAPI."""

    def __init__(self, api: FastAPI, services: Callable[[], Services] | None) -> None:
        self.api = api
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        services = self._services() if self._services else scope["app"].state.services
        scope[SERVICES_KEY] = services
        try:
            _reject_nul(scope)
            if _route_path(scope) not in PUBLIC_PATHS:
                client = scope.get("client")
                scope[CALLER_KEY] = await authenticate(
                    services, _authorization(scope), scope["method"], client[0] if client else None
                )
            receive = await request_body.checked_receive(scope, receive)
        except Problem as problem:
            await problem_response(problem)(scope, receive, send)
            return
        await self.api(scope, receive, _no_store(send))


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _reject_nul(scope: Scope) -> None:
    # PostgreSQL cannot hold NUL in text, not even as a query parameter to compare with.
    query = scope.get("query_string", b"")
    if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
        raise Problem(400, "the URL must not contain NUL characters")


def _authorization(scope: Scope) -> str | None:
    try:
        value = single_header([v for k, v in scope["headers"] if k == b"authorization"])
    except ResourceError as error:
        raise refusal(error) from None
    return value.decode("latin-1") if value is not None else None


def _no_store(send: Send) -> Send:
    """Admin responses hold personal data and are never cached (RFC 9111 §5.2.2.5)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(k.lower() == b"cache-control" for k, _ in headers):
                name, value = next(iter(NO_STORE.items()))
                headers.append((name.lower().encode(), value.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
