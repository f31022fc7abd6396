"""Pure ASGI middleware: verifies the access token (Bearer, or DPoP when the verifier
accepts it), puts the claims in scope["state"]."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ostiary.resource.authenticate import authenticate
from ostiary.resource.bearer import single_header
from ostiary.resource.client_cert import CertificateHeader, CertificateSource
from ostiary.resource.dpop import DPoPVerifier
from ostiary.resource.errors import ResourceError
from ostiary.resource.htu import check_origin, external_url
from ostiary.resource.verifier import TokenVerifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BearerAuthMiddleware:
    """Refuses requests without a valid token (401) or the scopes (403) with an RFC 6750
    (and RFC 9449 §7.1) challenge; otherwise ``request.state.claims`` (Starlette) holds
    the verified claims.

    DPoP proofs name the URL the client used: behind a proxy, give ``public_origin``
    (``https://api.example.com``) or, when the proxy sets them and nothing else can,
    ``trust_forwarded=True`` to read X-Forwarded-Proto and X-Forwarded-Host.

    Certificate-bound tokens (RFC 8705 §3) need ``client_certificate``: the header in
    which the TLS proxy passes the client's certificate, and the proxies it is believed
    from (``CertificateHeader("X-Client-Cert", ["10.0.0.2"])``)."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        scopes: Iterable[str] = (),
        realm: str = "api",
        public_paths: Iterable[str] = (),
        public_origin: str | None = None,
        trust_forwarded: bool = False,
        client_certificate: CertificateHeader | None = None,
    ) -> None:
        self.app = app
        self.client_certificate = client_certificate
        self.verifier = verifier
        self.scopes = tuple(scopes)
        self.realm = realm
        self.public_paths = frozenset(public_paths)
        self.public_origin = check_origin(public_origin) if public_origin else None
        self.trust_forwarded = trust_forwarded
        # Anything with TokenVerifier's verify will do here; DPoP is its dpop's to accept.
        self.dpop: DPoPVerifier | None = getattr(verifier, "dpop", None)
        self.dpop_algs = self.dpop.algs if self.dpop is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.public_paths:
            await self.app(scope, receive, send)
            return
        try:
            claims = await authenticate(
                self.verifier.verify,
                self.dpop,
                _header(scope, b"authorization"),
                _headers(scope, b"dpop"),
                scope.get("method", "GET"),
                lambda: scope_url(scope, self.public_origin, self.trust_forwarded),
                certificate_reader(self.client_certificate, scope),
            )
            claims.require(self.scopes)
        except ResourceError as error:
            await self._refuse(scope, send, error)
            return
        scope.setdefault("state", {})["claims"] = claims
        nonce = claims.dpop.next_nonce if claims.dpop is not None else None
        await self.app(scope, receive, with_header(send, b"dpop-nonce", nonce) if nonce else send)

    async def _refuse(self, scope: Scope, send: Send, error: ResourceError) -> None:
        if scope["type"] == "websocket":
            # Closing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        status, headers, body = error.response(self.realm, self.dpop_algs)
        raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


def _headers(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for key, v in scope.get("headers", ()) if key.lower() == name]


def _header(scope: Scope, name: bytes) -> str | None:
    value = single_header([v for key, v in scope.get("headers", ()) if key.lower() == name])
    return value.decode("latin-1") if value is not None else None


def scope_url(scope: Scope, public_origin: str | None, trust_forwarded: bool) -> str:
    """The URL of an ASGI request as its client used it (the ``htu`` of its DPoP proof)."""
    raw_path = scope.get("raw_path") or scope.get("path", "/").encode()
    server = scope.get("server") or ("localhost", None)
    host = _header(scope, b"host") or (f"{server[0]}:{server[1]}" if server[1] else server[0])
    forwarded = trust_forwarded and public_origin is None
    return external_url(
        scheme=scope.get("scheme", "http"),
        host=host,
        raw_path=raw_path,
        public_origin=public_origin,
        forwarded_proto=",".join(_headers(scope, b"x-forwarded-proto")) if forwarded else None,
        forwarded_host=",".join(_headers(scope, b"x-forwarded-host")) if forwarded else None,
    )


def certificate_reader(header: CertificateHeader | None, scope: Scope) -> CertificateSource:
    """How to read the request's client certificate, if the app takes one: only read for a
    certificate-bound token."""
    return (lambda: header.from_scope(scope)) if header is not None else None


def with_header(send: Send, name: bytes, value: str) -> Send:
    """``send`` adding one header to the response start (a new DPoP-Nonce, RFC 9449 §9)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (name, value.encode())]}
        await send(message)

    return sending
