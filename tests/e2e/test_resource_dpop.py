"""DPoP-bound access tokens (RFC 9449 §7) through the resource kit's adapters, over real
HTTP: each API runs on uvicorn (or wsgiref) on a free port, a DPoP client written here
with joserfc signs the proofs.

The server does not issue DPoP-bound tokens yet, so the issuer here is a small one of the
test's own (``Issuer``): discovery metadata, a JWKS and an introspection endpoint on
uvicorn, and RFC 9068 access tokens with ``cnf.jkt`` signed by its key. The kit meets it
as it meets Ostiary: by discovery, over HTTP. ``test_gateway_dpop.py`` uses it too.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from fastapi import Depends, FastAPI
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostiary.resource import (
    Claims,
    DPoPVerifier,
    SyncTokenVerifier,
    TimedNonces,
    TokenVerifier,
)
from ostiary.resource.asgi import BearerAuthMiddleware
from ostiary.resource.fastapi import ResourceServer
from ostiary.resource.wsgi import protect
from tests.e2e.dpop_client import DPoPClient
from tests.e2e.upstream_app import serving

API = "https://orders.example.com"


class Issuer:
    """A minimal issuer: OpenID metadata, a JWKS, RFC 7662 introspection of the opaque
    tokens it minted, and JWT access tokens (RFC 9068) bound to a key when asked."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.url = ""
        self.opaque: dict[str, dict[str, Any]] = {}

    def app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.url,
                    "jwks_uri": f"{self.url}/jwks.json",
                    "introspection_endpoint": f"{self.url}/introspect",
                    "dpop_signing_alg_values_supported": ["ES256"],
                }
            )

        async def jwks(request: Request) -> Response:
            public = self.key.as_dict(private=False) | {"kid": "k1", "alg": "ES256", "use": "sig"}
            return JSONResponse({"keys": [public]})

        async def introspect(request: Request) -> Response:
            form = parse_qs((await request.body()).decode())
            claims = self.opaque.get(form.get("token", [""])[0])
            return JSONResponse(claims or {"active": False})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", metadata),
                Route("/jwks.json", jwks),
                Route("/introspect", introspect, methods=["POST"]),
            ]
        )

    def claims(self, jkt: str | None = None, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "svc",
            "aud": API,
            "exp": now + 300,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "client_id": "svc",
            "scope": "orders:read",
        }
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1
        return claims | overrides

    def token(self, jkt: str | None = None, **overrides: Any) -> str:
        header = {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}
        return jwt.encode(header, self.claims(jkt, **overrides), self.key)

    def opaque_token(self, jkt: str | None = None) -> str:
        """An opaque token the issuer answers for at introspection (RFC 9449 §6.2)."""
        token = "opaque-" + uuid.uuid4().hex
        self.opaque[token] = {
            "active": True,
            "token_type": "DPoP" if jkt else "Bearer",
            **self.claims(jkt),
        }
        return token


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    issuer = Issuer()
    with serving(issuer.app()) as url:
        issuer.url = url
        yield issuer


async def whoami(request: Request) -> JSONResponse:
    claims: Claims = request.state.claims
    proof = claims.dpop
    return JSONResponse(
        {"sub": claims.sub, "scheme": claims.scheme, "jkt": proof.jkt if proof else None}
    )


def closing(verifier: TokenVerifier) -> Any:
    """A lifespan that closes the verifier's HTTP client on the server's own loop."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        await verifier.aclose()

    return lifespan


def asgi_api(verifier: TokenVerifier, **options: Any) -> BearerAuthMiddleware:
    routes = [Route("/orders", whoami, methods=["GET", "POST"])]
    app = Starlette(routes=routes, lifespan=closing(verifier))
    return BearerAuthMiddleware(app, verifier, **options)


@pytest.fixture(scope="module")
def api(issuer: Issuer) -> Iterator[str]:
    with serving(asgi_api(TokenVerifier(issuer.url, API, dpop=True))) as url:
        yield url


@pytest.fixture(scope="module")
def client() -> DPoPClient:
    return DPoPClient()


def challenge(response: httpx.Response) -> str:
    return response.headers["www-authenticate"]


ALGS = 'algs="ES256 ES384 ES512 PS256 RS256 EdDSA Ed25519"'


# -- the ASGI middleware ---------------------------------------------------------------------


def test_rfc9449_7_1_dpop_token_with_a_good_proof_is_served(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    token = issuer.token(client.jkt)
    url = f"{api}/orders"
    response = httpx.get(url, headers=client.headers("GET", url, token))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "svc", "scheme": "dpop", "jkt": client.jkt}
    # The query is not part of htu (RFC 9449 §4.2), and methods are told apart.
    posted = httpx.post(f"{url}?page=2", headers=client.headers("POST", url, token))
    assert posted.status_code == 200, posted.text


def test_rfc9449_7_2_dpop_token_as_bearer_is_refused(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    token = issuer.token(client.jkt)
    response = httpx.get(f"{api}/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert challenge(response).startswith('Bearer realm="api", error="invalid_token"')
    assert challenge(response).endswith(f'DPoP realm="api", {ALGS}')


def test_rfc9449_11_1_a_replayed_proof_is_refused(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    token = issuer.token(client.jkt)
    url = f"{api}/orders"
    headers = client.headers("GET", url, token)
    assert httpx.get(url, headers=headers).status_code == 200
    replayed = httpx.get(url, headers=headers)
    assert replayed.status_code == 401
    assert challenge(replayed).startswith('DPoP realm="api", error="invalid_dpop_proof"')
    assert replayed.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize(
    ("method", "htu"),
    [
        ("POST", "{api}/orders"),
        ("GET", "{api}/orders/other"),
        ("GET", "https://orders.example.com/orders"),
        ("GET", "http://127.0.0.2:1/orders"),
    ],
)
def test_rfc9449_4_3_wrong_htm_or_htu_is_refused(
    issuer: Issuer, api: str, client: DPoPClient, method: str, htu: str
) -> None:
    token = issuer.token(client.jkt)
    headers = client.headers(method, htu.format(api=api), token)
    response = httpx.get(f"{api}/orders", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in challenge(response)


def test_rfc9449_4_3_htu_is_compared_in_normal_form(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    token = issuer.token(client.jkt)
    htu = api.replace("http://", "HTTP://") + "/./%6Frders#frag"
    response = httpx.get(f"{api}/orders", headers=client.headers("GET", htu, token))
    assert response.status_code == 200, response.text


def test_rfc9449_4_3_ath_of_another_token_is_refused(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    token, other = issuer.token(client.jkt), issuer.token(client.jkt)
    url = f"{api}/orders"
    headers = {"Authorization": f"DPoP {token}", "DPoP": client.proof("GET", url, other)}
    response = httpx.get(url, headers=headers)
    assert response.status_code == 401
    assert "ath" in response.json()["error_description"]


def test_rfc9449_6_proof_by_a_key_the_token_is_not_bound_to_is_refused(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    token = issuer.token(client.jkt)
    url = f"{api}/orders"
    response = httpx.get(url, headers=DPoPClient().headers("GET", url, token))
    assert response.status_code == 401
    assert challenge(response).startswith('DPoP realm="api", error="invalid_token"')


def test_rfc9449_7_2_both_schemes_each_for_its_tokens(
    issuer: Issuer, api: str, client: DPoPClient
) -> None:
    url = f"{api}/orders"
    missing = httpx.get(url)
    assert missing.status_code == 401
    # No credentials: a challenge per scheme, without an error code (RFC 6750 §3.1).
    assert challenge(missing) == f'Bearer realm="api", DPoP realm="api", {ALGS}'
    plain = issuer.token()
    bearer = httpx.get(url, headers={"Authorization": f"Bearer {plain}"})
    assert bearer.json()["scheme"] == "bearer"
    unbound = httpx.get(url, headers=client.headers("GET", url, plain))
    assert unbound.status_code == 401
    assert "not DPoP-bound" in unbound.json()["error_description"]
    no_proof = httpx.get(url, headers={"Authorization": f"DPoP {issuer.token(client.jkt)}"})
    assert no_proof.status_code == 401
    assert no_proof.json()["error"] == "invalid_dpop_proof"


def test_rfc9449_6_2_introspected_tokens_follow_the_same_rule(
    issuer: Issuer, client: DPoPClient
) -> None:
    verifier = TokenVerifier(issuer.url, API, introspection=("rs", "secret"), dpop=True)
    with serving(asgi_api(verifier)) as base:
        url = f"{base}/orders"
        token = issuer.opaque_token(client.jkt)
        good = httpx.get(url, headers=client.headers("GET", url, token))
        assert good.status_code == 200, good.text
        assert good.json()["jkt"] == client.jkt
        bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401
        plain = issuer.opaque_token()
        assert httpx.get(url, headers={"Authorization": f"Bearer {plain}"}).status_code == 200


def test_rfc9449_9_server_nonces_when_asked_for(issuer: Issuer, client: DPoPClient) -> None:
    nonces = TimedNonces(b"n" * 32)
    verifier = TokenVerifier(issuer.url, API, dpop=DPoPVerifier(nonces=nonces))
    with serving(asgi_api(verifier)) as base:
        url = f"{base}/orders"
        token = issuer.token(client.jkt)
        first = httpx.get(url, headers=client.headers("GET", url, token))
        assert first.status_code == 401
        assert challenge(first).startswith('DPoP realm="api", error="use_dpop_nonce"')
        nonce = first.headers["dpop-nonce"]
        retried = httpx.get(url, headers=client.headers("GET", url, token, nonce=nonce))
        assert retried.status_code == 200, retried.text
        assert "dpop-nonce" not in retried.headers  # still current: nothing new to hand out


def test_behind_a_proxy_the_public_origin_is_what_proofs_name(
    issuer: Issuer, client: DPoPClient
) -> None:
    public = "https://api.example.com"
    token = issuer.token(client.jkt)
    verifier = TokenVerifier(issuer.url, API, dpop=True)
    with serving(asgi_api(verifier, public_origin=public)) as base:
        signed_public = client.headers("GET", f"{public}/orders", token)
        assert httpx.get(f"{base}/orders", headers=signed_public).status_code == 200
        signed_inside = client.headers("GET", f"{base}/orders", token)
        assert httpx.get(f"{base}/orders", headers=signed_inside).status_code == 401
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    with serving(asgi_api(TokenVerifier(issuer.url, API, dpop=True), trust_forwarded=True)) as base:
        headers = client.headers("GET", f"{public}/orders", token) | forwarded
        assert httpx.get(f"{base}/orders", headers=headers).status_code == 200
    with serving(asgi_api(TokenVerifier(issuer.url, API, dpop=True))) as base:
        # Not told to trust them, the kit ignores forwarded headers a client may forge.
        headers = client.headers("GET", f"{public}/orders", token) | forwarded
        assert httpx.get(f"{base}/orders", headers=headers).status_code == 401


# -- FastAPI -----------------------------------------------------------------------------------


def test_fastapi_dependencies_accept_dpop_and_answer_in_its_challenge(
    issuer: Issuer, client: DPoPClient
) -> None:
    verifier = TokenVerifier(issuer.url, API, dpop=True)
    resource = ResourceServer(verifier, realm="orders")
    app = FastAPI(lifespan=closing(verifier))

    @app.get("/orders")
    async def orders(claims: Claims = Depends(resource.require_scopes("orders:read"))) -> Any:  # noqa: B008
        return {"sub": claims.sub, "jkt": claims.dpop.jkt if claims.dpop else None}

    @app.post("/orders")
    async def create(claims: Claims = Depends(resource.require_scopes("orders:write"))) -> Any:  # noqa: B008
        return {}

    with serving(app) as base:
        url = f"{base}/orders"
        token = issuer.token(client.jkt)
        ok = httpx.get(url, headers=client.headers("GET", url, token))
        assert (ok.status_code, ok.json()) == (200, {"sub": "svc", "jkt": client.jkt})
        denied = httpx.post(url, headers=client.headers("POST", url, token))
        assert denied.status_code == 403
        assert challenge(denied).startswith('DPoP realm="orders", error="insufficient_scope"')
        assert 'scope="orders:write"' in challenge(denied)
        bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401


# -- WSGI ----------------------------------------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def wsgi_serving(app: Any) -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_wsgi_decorator_accepts_dpop(issuer: Issuer, client: DPoPClient) -> None:
    verifier = SyncTokenVerifier(TokenVerifier(issuer.url, API, dpop=True))

    @protect(verifier, scopes=["orders:read"], realm="legacy")
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        claims: Claims = environ["ostiary.claims"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{claims.sub} {claims.scheme}".encode()]

    try:
        with wsgi_serving(app) as base:
            url = f"{base}/orders/%7Esvc"
            token = issuer.token(client.jkt)
            headers = client.headers("GET", url, token)
            ok = httpx.get(url, headers=headers)
            assert (ok.status_code, ok.text) == (200, "svc dpop")
            replayed = httpx.get(url, headers=headers)
            assert replayed.status_code == 401
            assert challenge(replayed).startswith('DPoP realm="legacy", error="invalid_dpop_proof"')
            bearer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
            assert bearer.status_code == 401
            assert challenge(bearer).startswith('Bearer realm="legacy", error="invalid_token"')
            wrong_path = httpx.get(f"{base}/elsewhere", headers=client.headers("GET", url, token))
            assert wrong_path.status_code == 401
    finally:
        verifier.close()
