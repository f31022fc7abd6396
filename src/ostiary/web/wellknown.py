"""The health check (the metadata documents and JWKS are in web/token_routes.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.services import Services
from ostiary.storage.engine import ping
from ostiary.storage.errors import RETRY_AFTER, is_unavailable
from ostiary.web.responses import log_unavailable

_UNAVAILABLE = b'{"status":"unavailable","database":"unavailable"}'


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
            headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"},
        )
    return Response(b'{"status":"ok"}', media_type="application/json")
