"""The machine-to-machine endpoints as plain ASGI: token, revocation, introspection, pushed
authorization requests, the JWKS and the two metadata documents.

These are what clients and resource servers call thousands of times a second, and their
shape is fixed (a form body in, JSON out), so they skip Starlette's request, routing and
response objects: ``MachineEndpoints`` sits in front of the router, answers its seven paths
itself and hands every other request on unchanged. Measured with ``bench/peer_compare.py``
(server CPU per request), see bench/README.md.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostiary.errors import OAuthError, invalid_request
from ostiary.oauth import introspection, par, revocation, token_endpoint
from ostiary.oauth.metadata import authorization_server_metadata
from ostiary.oauth.params import MAX_BODY
from ostiary.oidc.discovery import openid_configuration
from ostiary.resource.client_cert import CertificateError, CertificateHeader, ClientCertificate
from ostiary.services import Services
from ostiary.storage.errors import is_unavailable
from ostiary.web.responses import (
    log_unavailable,
    oauth_error_parts,
    unavailable_error,
    unexpected_error,
)

log = logging.getLogger("ostiary.web")

FORM = "application/x-www-form-urlencoded"

Headers = list[tuple[bytes, bytes]]
JSON = (b"content-type", b"application/json")
# RFC 6749 §5.1: responses carrying tokens MUST NOT be cached (and errors, §5.2, likewise).
NO_STORE: Headers = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
PUBLIC = (b"access-control-allow-origin", b"*")
# (services, body, authorization, ip[, DPoP headers], certificate) -> the answer.
Form = Callable[..., Awaitable[Any]]


class _Gone(Exception):
    pass


async def _send(send: Send, status: int, headers: Headers, body: bytes, head: bool = False) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _body(receive: Receive) -> bytes:
    message: Message = await receive()
    if message["type"] == "http.disconnect":
        raise _Gone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > MAX_BODY:
            raise invalid_request("request too large")
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise invalid_request("request too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _error(send: Send, exc: OAuthError) -> None:
    await _send(send, *oauth_error_parts(exc))


def _form_endpoint(
    handler: Form, returns_body: bool, status: int = 200, *, dpop: bool = False
) -> Callable[..., Awaitable[None]]:
    """POST, ``application/x-www-form-urlencoded`` (RFC 6749 §3.2), Basic credentials in
    ``Authorization``; the handler's result is the JSON answer with ``status`` (or an
    empty 200). ``dpop``: the handler also takes the request's DPoP headers (RFC 9449)."""

    async def endpoint(scope: Scope, receive: Receive, send: Send, services: Services) -> None:
        content_type = authorization = None
        proofs: list[str] = []
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"dpop":
                proofs.append(value.decode("latin-1"))
        client = scope.get("client")
        ip = client[0] if client else None
        try:
            if content_type is None or content_type.split(";", 1)[0].strip().lower() != FORM:
                raise invalid_request(f"Content-Type must be {FORM}")
            body = await _body(receive)
            # RFC 8705: read only when configured (one attribute test on every other
            # request), and only from a trusted proxy (CertificateHeader).
            certificates = services.client_certificates
            certificate = _certificate(certificates, scope) if certificates else None
            if dpop:
                result = await handler(services, body, authorization, ip, proofs, certificate)
            else:
                result = await handler(services, body, authorization, ip, certificate)
        except _Gone:
            return
        except OAuthError as exc:
            await _error(send, exc)
            return
        except Exception as exc:
            if is_unavailable(exc):
                log_unavailable(scope["path"], exc)
                await _error(send, unavailable_error())
                return
            log.exception("unexpected error on %s", scope["path"])
            await _error(send, unexpected_error())
            return
        if returns_body:
            await _send(send, status, [JSON, *NO_STORE], orjson.dumps(result))
        else:
            # RFC 7009 §2.2: 200 whether or not the token was known.
            await _send(send, 200, list(NO_STORE), b"")

    return endpoint


def _certificate(certificates: CertificateHeader, scope: Scope) -> ClientCertificate | None:
    try:
        return certificates.from_scope(scope)
    except CertificateError as exc:
        raise invalid_request(f"the TLS proxy's client certificate: {exc}") from None


def _document(build: Callable[..., dict[str, Any]]) -> Callable[..., Awaitable[None]]:
    """A metadata document (RFC 8414 §3, OpenID Connect Discovery 1.0 §4), rendered once
    per process and served from memory."""
    rendered: dict[int, bytes] = {}

    async def endpoint(scope: Scope, receive: Receive, send: Send, services: Services) -> None:
        body = rendered.get(id(services))
        if body is None:
            body = rendered[id(services)] = orjson.dumps(build(services.settings))
        headers = [JSON, (b"cache-control", b"public, max-age=3600"), PUBLIC]
        await _send(send, 200, headers, body, scope["method"] == "HEAD")

    return endpoint


async def _jwks(scope: Scope, receive: Receive, send: Send, services: Services) -> None:
    keys = await services.keys.fresh()
    headers = [
        (b"content-type", b"application/jwk-set+json"),
        (b"cache-control", b"public, max-age=300"),
        PUBLIC,
    ]
    await _send(send, 200, headers, keys.jwks_json, scope["method"] == "HEAD")


GET = ("GET", "HEAD")
POST = ("POST",)
ROUTES: dict[str, tuple[tuple[str, ...], Callable[..., Awaitable[None]]]] = {
    "/token": (POST, _form_endpoint(token_endpoint.token, True, dpop=True)),
    "/revoke": (POST, _form_endpoint(revocation.revoke, False)),
    "/introspect": (POST, _form_endpoint(introspection.introspect, True)),
    # RFC 9126 §2.2: 201 Created with the request_uri.
    "/par": (POST, _form_endpoint(par.push, True, 201, dpop=True)),
    "/jwks.json": (GET, _jwks),
    "/.well-known/openid-configuration": (GET, _document(openid_configuration)),
    "/.well-known/oauth-authorization-server": (GET, _document(authorization_server_metadata)),
}


Page = Callable[[Request], Awaitable[Response]]
INTERACTION = "/interaction/"


class MachineEndpoints:
    """ASGI middleware: the paths in ``ROUTES`` are answered here, the rest by ``app``.

    ``pages``: Starlette endpoints of a login's browser requests, by exact path or, for
    ``/interaction/{interaction_id}/<step>``, by ``"/interaction/{}/<step>"``, with the
    methods they take. They are called here directly (the router, its middleware and
    path matching skipped: work a login's every request would pay); any other method goes on
    to the router as before.
    """

    def __init__(
        self, app: ASGIApp, pages: Mapping[str, tuple[tuple[str, ...], Page]] | None = None
    ) -> None:
        self.app = app
        self.pages = pages or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            if scope["type"] == "http" and self.pages and await self._page(scope, receive, send):
                return
            await self.app(scope, receive, send)
            return
        methods, endpoint = route
        if scope["method"] not in methods:
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            headers.append((b"allow", ", ".join(methods).encode()))
            await _send(send, 405, headers, b"Method Not Allowed")
            return
        await endpoint(scope, receive, send, scope["app"].state.services)

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> bool:
        path: str = scope["path"]
        params: dict[str, str] = {}
        key = path
        if path.startswith(INTERACTION):
            interaction_id, _, step = path[len(INTERACTION) :].partition("/")
            if not interaction_id or "/" in step:
                return False
            key, params = f"{INTERACTION}{{}}/{step}", {"interaction_id": interaction_id}
        page = self.pages.get(key)
        if page is None or scope["method"] not in page[0]:
            return False
        scope["path_params"] = params
        response = await page[1](Request(scope, receive, send))
        await response(scope, receive, send)
        return True
