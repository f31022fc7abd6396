"""Run by the Python of a light install (tests/e2e/test_packaging.py), not by pytest: the
resource-server kit verifies the tokens it is given against a JWKS served on loopback,
directly and through its WSGI, ASGI and (when FastAPI is importable) FastAPI adapters.

Reads ``{"issuer", "audience", "jwks", "good", "forged"}`` as JSON on stdin and prints
what each way of checking said, as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import ostiary.resource.asgi
import ostiary.resource.wsgi
from ostiary.resource import InvalidToken, SyncTokenVerifier, TokenVerifier


def serve_jwks(jwks: dict[str, Any]) -> ThreadingHTTPServer:
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def direct(verifier: TokenVerifier, good: str, forged: str) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        claims = await verifier.verify(good)
        try:
            await verifier.verify(forged)
            refused = None
        except InvalidToken as exc:
            refused = str(exc)
        await verifier.aclose()
        return {"sub": claims.sub, "scopes": sorted(claims.scopes), "forged": refused}

    return asyncio.run(check())


def wsgi_statuses(verifier: TokenVerifier, tokens: list[str]) -> list[str]:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ[ostiary.resource.wsgi.CLAIMS_KEY].sub.encode()]

    blocking = SyncTokenVerifier(verifier)
    protected = ostiary.resource.wsgi.protect(blocking, scopes=["orders:read"])(app)
    seen: list[str] = []
    for token in tokens:
        environ = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        protected(environ, lambda status, headers: seen.append(status))
    blocking.close()
    return seen


def asgi_statuses(verifier: TokenVerifier, tokens: list[str]) -> list[int]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = ostiary.resource.asgi.BearerAuthMiddleware(app, verifier, scopes=["orders:read"])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def requests() -> None:
        for token in tokens:
            scope = {
                "type": "http",
                "method": "GET",
                "path": "/orders",
                "headers": [(b"authorization", f"Bearer {token}".encode())],
            }
            await middleware(scope, receive, send)
        await verifier.aclose()

    asyncio.run(requests())
    return [m["status"] for m in sent if m["type"] == "http.response.start"]


def fastapi_statuses(verifier: TokenVerifier, good: str, forged: str) -> list[int] | None:
    if importlib.util.find_spec("fastapi") is None:
        return None
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from ostiary.resource.fastapi import ResourceServer

    orders_read = ResourceServer(verifier).require_scopes("orders:read")
    api = FastAPI()

    @api.get("/orders")
    # A dependency in the default: the Annotated form would need the local name resolved
    # from a string annotation (this module postpones annotations).
    async def orders(claims: Any = Depends(orders_read)) -> dict[str, Any]:  # noqa: B008
        return {"sub": claims.sub}

    with TestClient(api) as client:
        return [
            client.get("/orders", headers={"Authorization": f"Bearer {token}"}).status_code
            for token in (good, forged)
        ]


def main() -> None:
    given = json.load(sys.stdin)
    server = serve_jwks(given["jwks"])
    jwks_uri = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"

    def verifier() -> TokenVerifier:
        return TokenVerifier(given["issuer"], given["audience"], jwks_uri=jwks_uri)

    good, forged = given["good"], given["forged"]
    report = {
        "direct": direct(verifier(), good, forged),
        "wsgi": wsgi_statuses(verifier(), [good, forged]),
        "asgi": asgi_statuses(verifier(), [good, forged]),
        "fastapi": fastapi_statuses(verifier(), good, forged),
    }
    server.shutdown()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
