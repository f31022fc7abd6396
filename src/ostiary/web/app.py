"""The application factory: routes, start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ostiary import retention
from ostiary.admin import problems
from ostiary.admin.api import create_admin_api
from ostiary.admin.console.routes import routes as console_routes
from ostiary.admin.problems import problem_response
from ostiary.observability.wiring import Observability
from ostiary.scim.asgi import create_scim_app
from ostiary.scim.errors import ScimError
from ostiary.scim.request_parts import error_response as scim_error
from ostiary.services import Services, build_services
from ostiary.settings import Settings
from ostiary.web import (
    account_routes,
    account_security_routes,
    demo,
    federation_routes,
    interaction_mfa,
    oidc_routes,
    passkey_routes,
    revocation_feed,
    wellknown,
)
from ostiary.web import authorize_routes as authz
from ostiary.web.browser import Browser
from ostiary.web.rate_limits import RateLimits
from ostiary.web.surfaces import ADMIN_PREFIX, SCIM_PREFIX, surface_of
from ostiary.web.token_routes import ROUTES as MACHINE_ROUTES
from ostiary.web.token_routes import MachineEndpoints
from ostiary.web.unavailable import DatabaseUnavailable

log = logging.getLogger("ostiary")


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """Build the ASGI app. The database must already be migrated (``ostiary serve`` does it)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = services or build_services(settings)
        app.state.services = svc
        app.state.browser = Browser(settings)
        created = await svc.keys.ensure(svc.signing_algs())
        for kid in created:
            log.info("generated signing key %s", kid)
        if settings.demo:
            credentials = await demo.seed(svc)
            if credentials is not None:
                _announce_demo(credentials)
        await observability.start(svc)
        background = [
            asyncio.create_task(retention.purge_forever(svc)),
            asyncio.create_task(svc.audit.run()),
            asyncio.create_task(svc.limits.run()),
        ]
        if settings.gc.freeze:
            # What start-up made lives as long as the process: a full collection that walks
            # it again and again finds nothing to free and holds every request meanwhile.
            # Start-up's own garbage goes first: a frozen cycle is never freed.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await observability.stop()
            if services is None:
                await svc.close()

    routes = [
        Route("/authorize", authz.authorization_endpoint, methods=["GET", "POST"]),
        Route("/interaction/{interaction_id}", authz.interaction_page, methods=["GET"]),
        Route("/interaction/{interaction_id}/login", authz.login_submit, methods=["POST"]),
        Route("/interaction/{interaction_id}/consent", authz.consent_submit, methods=["POST"]),
        Route("/interaction/{interaction_id}/abort", authz.abort, methods=["POST"]),
        Route("/logout", oidc_routes.end_session, methods=["GET", "POST"]),
        Route("/userinfo", oidc_routes.userinfo_endpoint, methods=["GET", "POST", "OPTIONS"]),
        Route("/revocations", revocation_feed.revocations, methods=["GET"]),
        *wellknown.routes(settings),
        Route("/demo", demo.demo_page, methods=["GET"]),
        *interaction_mfa.routes,
        *account_routes.routes,
        *account_security_routes.routes,
        *passkey_routes.routes,
        *federation_routes.routes,
        Mount(ADMIN_PREFIX, app=create_admin_api()),
        # After the API's mount, which takes everything under its own prefix.
        *([Mount("/admin", routes=console_routes())] if settings.admin_console.enabled else []),
        Mount(SCIM_PREFIX, app=create_scim_app()),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    # Token, revocation, introspection, JWKS and metadata are answered before the router
    # (web/token_routes.py): the hot machine-to-machine paths skip Starlette's objects.
    # The two requests of every password login skip the router the same way.
    pages = {
        "/authorize": (("GET", "POST"), authz.authorization_endpoint),
        "/interaction/{}/login": (("POST",), authz.login_submit),
    }
    # Request ids, the request log, metrics and traces see every request, the machine
    # endpoints' included (observability/).
    observability = Observability(settings, routes, MACHINE_ROUTES)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found},
        # After the observers, DatabaseUnavailable: a database outage is a 503 on every path.
        middleware=[
            *observability.middleware(),
            Middleware(DatabaseUnavailable),
            # Per-address limits before any endpoint work (ostiary.limits).
            Middleware(RateLimits),
            Middleware(MachineEndpoints, pages=pages),
        ],
    )
    app.state.observability = observability
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    """A path under a mounted API that its mount did not take (Starlette's mount pattern
    stops at a line break) still gets that API's error shape: SCIM's (RFC 7644 §3.12) or
    a problem (RFC 9457)."""
    surface = surface_of(request.url.path)
    if surface == "scim":
        return scim_error(ScimError(404, "no such endpoint"))
    if surface == "admin":
        return problem_response(problems.not_found("endpoint"))
    if isinstance(exc, HTTPException):
        return PlainTextResponse(exc.detail, status_code=404, headers=exc.headers)
    return PlainTextResponse("Not Found", status_code=404)


def _announce_demo(credentials: demo.DemoCredentials) -> None:
    print(
        "\n"
        "  Ostiary demo mode\n"
        f"    open:      {credentials.url}\n"
        f"    username:  {credentials.username}\n"
        f"    password:  {credentials.password}\n"
        f"    client_id: {credentials.client_id} (public client, PKCE)\n",
        file=sys.stderr,
        flush=True,
    )
