"""Metadata documents and JWKS, served from memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ostiary.oauth.metadata import authorization_server_metadata
from ostiary.oidc.discovery import openid_configuration
from ostiary.services import Services
from ostiary.settings import Settings

PUBLIC = {"Access-Control-Allow-Origin": "*"}


def _services(request: Request) -> Services:
    return request.app.state.services


def _document(build: Callable[[Settings], dict[str, Any]]) -> Callable[[Request], Any]:
    """An endpoint serving ``build(settings)`` as JSON, rendered once per process."""
    rendered: dict[int, bytes] = {}

    async def endpoint(request: Request) -> Response:
        body = rendered.get(id(request.app))
        if body is None:
            body = rendered[id(request.app)] = orjson.dumps(build(_services(request).settings))
        return Response(
            body,
            media_type="application/json",
            headers={"Cache-Control": "public, max-age=3600", **PUBLIC},
        )

    return endpoint


# RFC 8414 §3 and OpenID Connect Discovery 1.0 §4.
oauth_metadata = _document(authorization_server_metadata)
openid_metadata = _document(openid_configuration)


async def jwks(request: Request) -> Response:
    keys = await _services(request).keys.fresh()
    return Response(
        keys.jwks_json,
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300", **PUBLIC},
    )


async def health(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
