"""Pure ASGI middleware: verifies the bearer token, puts the claims in scope["state"]."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ostiary.resource.bearer import bearer_token, single_header
from ostiary.resource.errors import InsufficientScope, ResourceError
from ostiary.resource.verifier import TokenVerifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BearerAuthMiddleware:
    """Refuses requests without a valid token (401) or the scopes (403) with an RFC 6750
    challenge; otherwise ``request.state.claims`` (Starlette) holds the verified claims."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        scopes: Iterable[str] = (),
        realm: str = "api",
        public_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.scopes = tuple(scopes)
        self.realm = realm
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            claims = await self.verifier.verify(bearer_token(_header(scope, b"authorization")))
            if not set(self.scopes) <= claims.scopes:
                raise InsufficientScope(self.scopes)
        except ResourceError as error:
            await self._refuse(scope, send, error)
            return
        scope.setdefault("state", {})["claims"] = claims
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, error: ResourceError) -> None:
        if scope["type"] == "websocket":
            # Closing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        status, headers, body = error.response(self.realm)
        raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    value = single_header([v for key, v in scope.get("headers", ()) if key.lower() == name])
    return value.decode("latin-1") if value is not None else None
