"""ASGI middleware: per-address request limits (``ostiary.limits``) before any endpoint.

A refused request gets 429 with ``Retry-After`` (RFC 6585 §4, RFC 9110 §10.2.3): RFC 6749
§5.2 JSON on the OAuth JSON endpoints, a page saying what happened on the others. Nothing
of the request is read, so a refused ``/authorize`` never redirects anywhere (its redirect
URI is not even looked at, let alone verified).

The address is ``scope["client"]``, the one every endpoint uses: uvicorn rewrites it from
X-Forwarded-For only for the configured ``trusted_proxies``.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from ostiary.limits import JSON_GROUPS, group_of
from ostiary.web.responses import NO_STORE, page

MESSAGE = "Too many requests from your network. Please wait {} second(s), then try again."


class RateLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            group = group_of(scope["method"], scope["path"])
            if group is not None:
                client = scope.get("client")
                limiter = scope["app"].state.services.limits
                wait = limiter.hit(group, client[0] if client else None)
                if wait:
                    await _refuse(group, wait, scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _refuse(group: str, wait: int, scope: Scope, receive: Receive, send: Send) -> None:
    retry = str(wait)
    if group in JSON_GROUPS:
        # RFC 6749 §5.2 shape; the code is §4.1.2.1's "temporarily_unavailable" (a temporary
        # overload), the status RFC 6585 §4's.
        body = orjson.dumps(
            {
                "error": "temporarily_unavailable",
                "error_description": f"too many requests; retry after {wait} seconds",
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            *((k.lower().encode(), v.encode()) for k, v in NO_STORE.items()),
            (b"retry-after", retry.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    response = page("error.html", 429, message=MESSAGE.format(wait))
    response.headers["Retry-After"] = retry
    await response(scope, receive, send)
