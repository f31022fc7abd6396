"""The health check (the metadata documents and JWKS are in web/token_routes.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
