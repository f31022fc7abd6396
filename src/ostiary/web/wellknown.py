"""Metadata and JWKS, served from memory."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ostiary.oauth.metadata import authorization_server_metadata
from ostiary.services import Services


def _services(request: Request) -> Services:
    return request.app.state.services


async def oauth_metadata(request: Request) -> Response:
    cached = getattr(request.app.state, "metadata_json", None)
    if cached is None:
        cached = orjson.dumps(authorization_server_metadata(_services(request).settings))
        request.app.state.metadata_json = cached
    return Response(
        cached,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"},
    )


async def jwks(request: Request) -> Response:
    keys = await _services(request).keys.fresh()
    return Response(
        keys.jwks_json,
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
    )


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
