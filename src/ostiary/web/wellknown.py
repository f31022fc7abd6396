"""Health checks and /metrics (the metadata documents and JWKS are in web/token_routes.py).

``/health/live``: the process answers (no I/O), for a supervisor's restart decision.
``/health/ready``: the node may take traffic (observability/readiness.py), for a load
balancer. ``/health``: the database answers, as it always has (kept for the load
balancers and scripts already pointed at it).
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.observability.metrics import CONTENT_TYPE
from ostiary.observability.wiring import Observability, metrics_on_main_port
from ostiary.services import Services
from ostiary.settings import Settings
from ostiary.storage.engine import ping
from ostiary.storage.errors import RETRY_AFTER, is_unavailable
from ostiary.web.responses import log_unavailable

_UNAVAILABLE = b'{"status":"unavailable","database":"unavailable"}'
_LIVE = b'{"status":"ok"}'
# RFC 9110 §15.6.4 / §10.2.3: 503 and when to ask again; never cached by anything between.
_NOT_READY_HEADERS = {"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"}


async def health(request: Request) -> Response:
    """200 when the server can reach its database; 503 with Retry-After (RFC 9110 §15.6.4)
    while it cannot, so a load balancer sends the traffic elsewhere meanwhile."""
    services: Services = request.app.state.services
    try:
        await ping(services.engine)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log_unavailable(request.url.path, exc)
        return Response(
            _UNAVAILABLE,
            status_code=503,
            media_type="application/json",
            headers=_NOT_READY_HEADERS,
        )
    return Response(_LIVE, media_type="application/json")


async def live(request: Request) -> Response:
    """200 while the process can answer at all."""
    return Response(_LIVE, media_type="application/json", headers={"Cache-Control": "no-store"})


async def ready(request: Request) -> Response:
    """200 when every check passes; 503 naming the failed ones, with Retry-After."""
    observability: Observability = request.app.state.observability
    checks = await observability.readiness.check(request.app.state.services)
    failed = [name for name, state in checks.items() if state != "ok"]
    if not failed:
        body = orjson.dumps({"status": "ok", "checks": checks})
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
    body = orjson.dumps({"status": "unavailable", "failed": failed, "checks": checks})
    return Response(
        body, status_code=503, media_type="application/json", headers=_NOT_READY_HEADERS
    )


async def metrics(request: Request) -> Response:
    """The Prometheus text exposition of this node (of every worker, with --workers)."""
    observability: Observability = request.app.state.observability
    assert observability.metrics is not None
    return Response(
        observability.metrics.render(),
        media_type=CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )


def routes(settings: Settings) -> list[Route]:
    found = [
        Route("/health", health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
    ]
    if metrics_on_main_port(settings):
        found.append(Route("/metrics", metrics, methods=["GET"]))
    return found
