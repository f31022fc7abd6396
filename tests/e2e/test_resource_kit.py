"""The resource-server kit (ostiary.resource) against a real server: RFC 9068 checks,
JWKS caching and rotation, RFC 7662 fallback, revocation, and the three adapters."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies
# declared inside the test as real objects, not names to resolve in module globals.
import asyncio
import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

import httpx
import pytest
from fastapi import Depends, FastAPI
from joserfc.jws import JWSRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ostiary import clock
from ostiary.resource import (
    Claims,
    InvalidToken,
    RevocationFeed,
    RevocationList,
    SyncTokenVerifier,
    TokenVerifier,
)
from ostiary.resource.asgi import BearerAuthMiddleware
from ostiary.resource.fastapi import ResourceServer
from ostiary.resource.wsgi import protect
from ostiary.services import Services
from ostiary.tokens import jwt_access, signed
from tests.conftest import LiveServer
from tests.e2e.helpers import RegisteredClient, make_client

API = "https://orders.example.com"
T = TypeVar("T")


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def api_client(server: LiveServer) -> RegisteredClient:
    return make_client(
        server,
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=["orders:read", "orders:write"],
        audience=[API],
    )


def token_for(server: LiveServer, client: RegisteredClient, scope: str = "orders:read") -> str:
    response = httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=client.basic_auth(),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def mint(server: LiveServer, typ: str = "at+jwt", **overrides: Any) -> str:
    """A token signed by the server's real key, with claims of our choosing."""
    now = clock.now()
    claims: dict[str, Any] = {
        "iss": server.base_url,
        "sub": "svc",
        "aud": API,
        "exp": now + 300,
        "iat": now,
        "jti": f"jti-{time.monotonic_ns()}",
        "client_id": "svc",
        "scope": "orders:read",
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}

    async def sign(services: Services) -> str:
        keys = await services.keys.fresh()
        if typ == "at+jwt":
            return jwt_access.encode(keys, "ES256", claims)
        return signed.sign(keys, "ES256", claims, typ)

    return server.call(sign)


def forged(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return head + "." + b64url(signature)


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def claims_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verify(server: LiveServer, token: str, **options: Any) -> Claims:
    async def go() -> Claims:
        verifier = TokenVerifier(server.base_url, options.pop("audience", API), **options)
        try:
            return await verifier.verify(token)
        finally:
            await verifier.aclose()

    return run(go)


# -- the verifier --------------------------------------------------------------------------


def test_client_credentials_token_verifies(
    server: LiveServer, api_client: RegisteredClient
) -> None:
    claims = verify(server, token_for(server, api_client))
    assert claims.sub == api_client.client_id
    assert claims.client_id == api_client.client_id
    assert claims.scopes == frozenset({"orders:read"})
    assert claims["aud"] == API
    assert claims.source == "jwt"


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    body = claims_of(token) | {"scope": "orders:read orders:write"}
    return ".".join([header, b64url(json.dumps(body).encode()), signature])


def _alg_none(token: str) -> str:
    return forged(header_of(token) | {"alg": "none"}, claims_of(token))


def _hs256_with_public_key(server: LiveServer, token: str) -> str:
    """The classic confusion: HMAC keyed with the published public key (RFC 8725 §2.1)."""
    jwks = httpx.get(f"{server.base_url}/jwks.json").json()
    public = next(k for k in jwks["keys"] if k["kid"] == header_of(token)["kid"])
    header = header_of(token) | {"alg": "HS256"}
    unsigned = forged(header, claims_of(token)).rsplit(".", 1)[0]
    mac = hmac.new(json.dumps(public).encode(), unsigned.encode(), hashlib.sha256).digest()
    return unsigned + "." + b64url(mac)


@pytest.mark.parametrize(
    "case",
    ["wrong_audience", "tampered", "expired", "alg_none", "hs256", "wrong_typ", "not_yet", "iss"],
)
def test_bad_tokens_are_invalid(
    server: LiveServer, api_client: RegisteredClient, case: str
) -> None:
    good = token_for(server, api_client)
    audience = API
    if case == "wrong_audience":
        token, audience = good, "https://other.example.com"
    elif case == "tampered":
        token = _tampered(good)
    elif case == "expired":
        # Past the 30 s leeway (RFC 7519 §4.1.4).
        token = mint(server, exp=clock.now() - 120, iat=clock.now() - 400)
    elif case == "alg_none":
        token = _alg_none(good)
    elif case == "hs256":
        token = _hs256_with_public_key(server, good)
    elif case == "wrong_typ":
        token = mint(server, typ="JWT")
    elif case == "not_yet":
        token = mint(server, nbf=clock.now() + 600)
    else:
        token = mint(server, iss="https://evil.example.com")
    with pytest.raises(InvalidToken):
        verify(server, token, audience=audience)


def test_leeway_accepts_slightly_expired_token(server: LiveServer) -> None:
    token = mint(server, exp=clock.now() - 5, iat=clock.now() - 300)
    assert verify(server, token).sub == "svc"
    with pytest.raises(InvalidToken):
        verify(server, token, leeway=0)


def test_refuses_to_allow_symmetric_or_none_algorithms(server: LiveServer) -> None:
    for algs in (["HS256"], ["none"], ["ES256", "HS512"], []):
        with pytest.raises(ValueError):
            TokenVerifier(server.base_url, API, algorithms=algs)


def _counting_http(counter: dict[str, int]) -> httpx.AsyncClient:
    async def count(request: httpx.Request) -> None:
        counter[request.url.path] = counter.get(request.url.path, 0) + 1

    return httpx.AsyncClient(event_hooks={"request": [count]})


def test_unknown_kid_flood_refetches_jwks_at_most_once_per_interval(
    server: LiveServer, api_client: RegisteredClient
) -> None:
    good = token_for(server, api_client)
    floods = [forged(header_of(good) | {"kid": f"nope-{n}"}, claims_of(good)) for n in range(50)]
    counter: dict[str, int] = {}

    async def go() -> None:
        async with _counting_http(counter) as http:
            verifier = TokenVerifier(server.base_url, API, http=http, unknown_kid_interval=0.5)
            await verifier.verify(good)
            assert counter["/jwks.json"] == 1
            for token in floods:
                with pytest.raises(InvalidToken):
                    await verifier.verify(token)
            assert counter["/jwks.json"] == 1  # the interval has not passed yet
            await asyncio.sleep(0.6)
            await asyncio.gather(*(_refused(verifier, token) for token in floods))
            assert counter["/jwks.json"] == 2  # one refetch for the whole second flood

    run(go)


async def _refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


def test_key_rotation_is_picked_up_without_restart(
    server: LiveServer, api_client: RegisteredClient
) -> None:
    before = token_for(server, api_client)

    async def go() -> None:
        verifier = TokenVerifier(server.base_url, API, unknown_kid_interval=0.2)
        try:
            await verifier.verify(before)

            async def rotate(services: Services) -> str:
                return await services.keys.rotate("ES256")

            new_kid = await asyncio.to_thread(server.call, rotate)
            await asyncio.sleep(0.3)
            after = await asyncio.to_thread(token_for, server, api_client)
            assert header_of(after)["kid"] == new_kid != header_of(before)["kid"]
            assert (await verifier.verify(after)).sub == api_client.client_id
            # RFC 7517: the retired key stays published, so older tokens still verify.
            assert (await verifier.verify(before)).sub == api_client.client_id
        finally:
            await verifier.aclose()

    run(go)


def test_verified_token_cache_skips_only_the_signature_check(
    server: LiveServer, api_client: RegisteredClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token verified once is not verified again by the same key, but lifetime and
    revocation are checked on every request (RFC 9068 §4), its claims are read-only, and a
    key that is no longer the JWKS's (refetched, rotated out) means a fresh check."""
    token = token_for(server, api_client)
    claims = claims_of(token)
    model = JWSRegistry.algorithms["ES256"]
    checks = {"n": 0}
    real = model.verify

    def counted(*args: Any) -> bool:
        checks["n"] += 1
        return real(*args)

    monkeypatch.setattr(model, "verify", counted)
    now = {"t": float(claims["iat"])}
    revocations = RevocationList(clock=lambda: now["t"])

    async def go() -> None:
        verifier = TokenVerifier(
            server.base_url,
            API,
            revocations=revocations,
            jwks_ttl=0.2,
            unknown_kid_interval=0.1,
            clock=lambda: now["t"],
        )
        try:
            first = await verifier.verify(token)
            second = await verifier.verify(token)
            assert checks["n"] == 1
            assert first.raw == second.raw == claims
            with pytest.raises(TypeError):
                second.raw["sub"] = "someone else"  # type: ignore[index]
            # A tampered copy is another text: checked, and refused.
            with pytest.raises(InvalidToken, match="signature"):
                await verifier.verify(_tampered(token))
            assert checks["n"] == 2
            # The JWKS refetched: new key objects, so the cached verdict no longer counts.
            await asyncio.sleep(0.3)
            assert (await verifier.verify(token)).sub == api_client.client_id
            assert checks["n"] == 3
            revocations.revoke_jti(claims["jti"], expires_at=claims["exp"])
            with pytest.raises(InvalidToken, match="revoked"):
                await verifier.verify(token)
            now["t"] = claims["exp"] + verifier.leeway + 1
            with pytest.raises(InvalidToken, match="expired"):
                await verifier.verify(token)
        finally:
            await verifier.aclose()

    run(go)


def test_verified_token_cache_is_bounded(server: LiveServer) -> None:
    """Full, it drops expired tokens first, else the older half; never grows past its size.
    It holds digests, never the tokens themselves."""

    def digests(*tokens: str) -> list[bytes]:
        return [hashlib.sha256(token.encode()).digest() for token in tokens]

    now = clock.now()
    expired = [mint(server, iat=now - 600, exp=now - 100) for _ in range(2)]
    live = [mint(server) for _ in range(5)]

    async def go() -> None:
        verifier = TokenVerifier(server.base_url, API, verified_cache_size=4)
        try:
            for token in expired:  # refused, but their signatures were checked and kept
                await _refused(verifier, token)
            for token in live[:2]:
                await verifier.verify(token)
            assert list(verifier._verified) == digests(*expired, *live[:2])
            await verifier.verify(live[2])  # full: the two expired ones go
            assert list(verifier._verified) == digests(*live[:3])
            await verifier.verify(live[3])
            await verifier.verify(live[4])  # full, none expired: the older half goes
            assert list(verifier._verified) == digests(*live[2:])
            assert len(verifier._verified) <= 4
        finally:
            await verifier.aclose()

    run(go)


# -- introspection (RFC 7662) --------------------------------------------------------------


@pytest.fixture(scope="module")
def introspecting_client(server: LiveServer) -> RegisteredClient:
    return make_client(server, redirect_uris=[], grant_types=["client_credentials"], scopes=[])


def test_jwt_from_an_unknown_key_falls_back_to_introspection(
    server: LiveServer, api_client: RegisteredClient, introspecting_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)

    async def go() -> None:
        # A JWKS that does not hold the signing key: the token can only be checked remotely.
        verifier = TokenVerifier(
            server.base_url,
            API,
            jwks_uri=f"{server.base_url}/no-such-jwks.json",
            introspection=introspecting_client.basic_auth(),
        )
        try:
            first = await verifier.verify(token)
            second = await verifier.verify(token)
            assert first.source == second.source == "introspection"
            assert first.client_id == api_client.client_id
            assert first.scopes == frozenset({"orders:read"})
            assert verifier.introspector is not None
            assert verifier.introspector.calls == 1  # the second answer came from the cache
            with pytest.raises(InvalidToken):
                await verifier.verify("ost_at_not-a-real-token")
        finally:
            await verifier.aclose()

    run(go)


def test_refresh_token_is_not_accepted_as_access_token(
    server: LiveServer, introspecting_client: RegisteredClient
) -> None:
    """An opaque token the server knows, but of the wrong type (RFC 7662 §2.2 token_type)."""
    with pytest.raises(InvalidToken):
        verify(server, "ost_rt_whatever", introspection=introspecting_client.basic_auth())


def test_opaque_token_introspection_and_cache_bound() -> None:
    issuer = "https://id.example.com"
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": issuer,
                    "jwks_uri": f"{issuer}/jwks.json",
                    "introspection_endpoint": f"{issuer}/introspect",
                },
            )
        if request.url.path == "/jwks.json":
            return httpx.Response(200, json={"keys": []})
        token = dict(httpx.QueryParams(request.content.decode()))["token"]
        calls.append(token)
        active = token.startswith("good")
        body = {"active": active, "aud": API, "sub": "u1", "scope": "a b", "exp": 2**31}
        return httpx.Response(200, json=body if active else {"active": False})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            verifier = TokenVerifier(
                issuer, API, introspection=("rs", "secret"), http=http, introspection_cache_size=2
            )
            claims = await verifier.verify("good-1")
            assert (claims.sub, claims.scopes, claims.source) == ("u1", {"a", "b"}, "introspection")
            await verifier.verify("good-1")
            assert calls == ["good-1"]
            with pytest.raises(InvalidToken):
                await verifier.verify("bad-1")
            await verifier.verify("good-2")
            await verifier.verify("good-1")  # evicted by the bound of two entries
            assert calls == ["good-1", "bad-1", "good-2", "good-1"]

    run(go)


# -- revocation list -----------------------------------------------------------------------


def test_revocation_list_blocks_jti_and_subject_cut_off(
    server: LiveServer, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)
    claims = claims_of(token)
    revoked_jti = RevocationList()
    revoked_jti.revoke_jti(claims["jti"], expires_at=claims["exp"])
    with pytest.raises(InvalidToken, match="revoked"):
        verify(server, token, revocations=revoked_jti)

    cut = RevocationList()
    cut.apply({"kind": "sub", "value": claims["sub"], "not_before": claims["iat"] + 1})
    with pytest.raises(InvalidToken, match="revoked"):
        verify(server, token, revocations=cut)
    # A token issued at or after the cut-off is fine (RFC 9068 iat is in seconds).
    later = mint(server, sub=claims["sub"], iat=claims["iat"] + 1)
    assert verify(server, later, revocations=cut).sub == claims["sub"]

    sessions = RevocationList()
    sessions.apply({"kind": "sid", "value": "s-1", "expires_at": clock.now() + 60})
    with pytest.raises(InvalidToken, match="session"):
        verify(server, mint(server, sid="s-1"), revocations=sessions)


def test_revocation_feed_poller_learns_a_revoked_token(
    server: LiveServer, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)

    async def go() -> None:
        # Fail closed until the first poll has brought the list up to date.
        revocations = RevocationList(stale_after=60)
        verifier = TokenVerifier(server.base_url, API, revocations=revocations)
        feed = RevocationFeed(verifier)
        try:
            with pytest.raises(InvalidToken, match="not current"):
                await verifier.verify(token)
            await feed.poll()
            await verifier.verify(token)
            revoked = await asyncio.to_thread(
                httpx.post,
                f"{server.base_url}/revoke",
                data={"token": token},
                auth=api_client.basic_auth(),
            )
            assert revoked.status_code == 200
            assert await feed.poll() >= 1
            with pytest.raises(InvalidToken, match="revoked"):
                await verifier.verify(token)
        finally:
            await verifier.aclose()

    run(go)


class _FakeFeed(httpx.AsyncBaseTransport):
    """Serves ``body`` at /fake-feed; everything else goes to the real server."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fake-feed":
            return httpx.Response(200, text=self.body)
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


@pytest.mark.parametrize("case", ["access_token_as_feed", "tampered_page", "unsigned_page"])
def test_revocation_feed_pages_are_verified(server: LiveServer, case: str) -> None:
    page = httpx.get(f"{server.base_url}/revocations").text
    if case == "access_token_as_feed":
        body = mint(server)
    elif case == "tampered_page":
        body = _tampered(page)
    else:
        body = _alg_none(page)

    async def go() -> None:
        async with httpx.AsyncClient(transport=_FakeFeed(body)) as http:
            verifier = TokenVerifier(server.base_url, API, http=http)
            feed = RevocationFeed(verifier, endpoint=f"{server.base_url}/fake-feed")
            with pytest.raises(InvalidToken):
                await feed.poll()
            assert feed.cursor == 0

    run(go)


# -- adapters ------------------------------------------------------------------------------


@pytest.fixture
def verifier_factory(server: LiveServer) -> Iterator[Callable[[], TokenVerifier]]:
    def make() -> TokenVerifier:
        return TokenVerifier(server.base_url, API)

    yield make


def test_fastapi_require_scopes(server: LiveServer, api_client: RegisteredClient) -> None:
    read = token_for(server, api_client, "orders:read")

    async def go() -> None:
        verifier = TokenVerifier(server.base_url, API)
        resource = ResourceServer(verifier, realm="orders")
        app = FastAPI()
        Reader = Annotated[Claims, Depends(resource.require_scopes("orders:read"))]
        Writer = Annotated[Claims, Depends(resource.require_scopes("orders:write"))]
        Admin = Annotated[Claims, Depends(resource.require_roles("admin"))]

        @app.get("/orders")
        async def orders(claims: Reader) -> Any:
            return {"sub": claims.sub, "scopes": sorted(claims.scopes)}

        @app.post("/orders")
        async def create(claims: Writer) -> Any:
            return {"sub": claims.sub}

        @app.get("/admin")
        async def admin(claims: Admin) -> Any:
            return {}

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            ok = await api.get("/orders", headers={"Authorization": f"Bearer {read}"})
            assert ok.status_code == 200
            assert ok.json() == {"sub": api_client.client_id, "scopes": ["orders:read"]}

            missing = await api.get("/orders")
            assert missing.status_code == 401
            # RFC 6750 §3.1: no error code when the request carried no credentials.
            assert missing.headers["www-authenticate"] == 'Bearer realm="orders"'

            bad = await api.get("/orders", headers={"Authorization": "Bearer x.y.z"})
            assert bad.status_code == 401
            challenge = bad.headers["www-authenticate"]
            assert challenge.startswith('Bearer realm="orders", error="invalid_token"')
            assert "error_description=" in challenge

            denied = await api.post("/orders", headers={"Authorization": f"Bearer {read}"})
            assert denied.status_code == 403
            challenge = denied.headers["www-authenticate"]
            assert 'error="insufficient_scope"' in challenge
            assert 'scope="orders:write"' in challenge

            no_role = await api.get("/admin", headers={"Authorization": f"Bearer {read}"})
            assert no_role.status_code == 403
        await verifier.aclose()

    run(go)


def test_asgi_middleware(server: LiveServer, api_client: RegisteredClient) -> None:
    read = token_for(server, api_client, "orders:read")
    both = token_for(server, api_client, "orders:read orders:write")

    async def whoami(request: Request) -> JSONResponse:
        claims: Claims = request.state.claims
        return JSONResponse({"sub": claims.sub})

    async def go() -> None:
        verifier = TokenVerifier(server.base_url, API)
        app = BearerAuthMiddleware(
            Starlette(routes=[Route("/whoami", whoami), Route("/health", whoami)]),
            verifier,
            scopes=["orders:write"],
            public_paths=["/health"],
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            ok = await api.get("/whoami", headers={"Authorization": f"Bearer {both}"})
            assert ok.status_code == 200
            assert ok.json() == {"sub": api_client.client_id}
            missing = await api.get("/whoami")
            assert (missing.status_code, missing.headers["www-authenticate"]) == (
                401,
                'Bearer realm="api"',
            )
            invalid = await api.get("/whoami", headers={"Authorization": "Bearer opaque"})
            assert invalid.status_code == 401
            assert 'error="invalid_token"' in invalid.headers["www-authenticate"]
            denied = await api.get("/whoami", headers={"Authorization": f"Bearer {read}"})
            assert denied.status_code == 403
            assert 'scope="orders:write"' in denied.headers["www-authenticate"]
        await verifier.aclose()

    run(go)


def test_wsgi_decorator(server: LiveServer, api_client: RegisteredClient) -> None:
    read = token_for(server, api_client, "orders:read")
    verifier = SyncTokenVerifier(TokenVerifier(server.base_url, API))

    @protect(verifier, scopes=["orders:read"], realm="legacy")
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        claims: Claims = environ["ostiary.claims"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"hello {claims.sub}".encode()]

    @protect(verifier, scopes=["orders:write"])
    def writer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b"written"]

    try:
        with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://api") as api:
            ok = api.get("/", headers={"Authorization": f"Bearer {read}"})
            assert (ok.status_code, ok.text) == (200, f"hello {api_client.client_id}")
            missing = api.get("/")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"] == 'Bearer realm="legacy"'
            bad = api.get("/", headers={"Authorization": f"Bearer {_tampered(read)}"})
            assert bad.status_code == 401
            assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        with httpx.Client(transport=httpx.WSGITransport(app=writer), base_url="http://api") as api:
            denied = api.get("/", headers={"Authorization": f"Bearer {read}"})
            assert denied.status_code == 403
            assert 'scope="orders:write"' in denied.headers["www-authenticate"]
    finally:
        verifier.close()


@pytest.mark.parametrize(
    ("alg", "kty", "crv"),
    [
        ("ES256", "EC", "P-256"),
        ("RS256", "RSA", None),
        ("PS256", "RSA", None),
        ("EdDSA", "OKP", "Ed25519"),
    ],
)
def test_every_default_algorithm_verifies(alg: str, kty: str, crv: str | None) -> None:
    """Keys of each allowed family, and a key whose JWK alg differs from the token's."""
    from joserfc import jwt
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    issuer = "https://id.example.com"
    key = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}[kty].generate_key(crv or 2048)
    now = clock.now()
    claims = {"iss": issuer, "aud": API, "sub": "s", "exp": now + 60, "iat": now, "jti": "j"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags the RFC 9864-deprecated "EdDSA"
        token = jwt.encode(
            {"alg": alg, "typ": "application/at+jwt", "kid": "k"}, claims, key, algorithms=[alg]
        )
    published = key.as_dict(private=False) | {"kid": "k", "alg": alg}
    mismatched = published | {"kid": "m", "alg": "RS256" if alg != "RS256" else "PS256"}
    confused = forged(header_of(token) | {"kid": "m"}, claims_of(token))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks.json":
            return httpx.Response(200, json={"keys": [published, mismatched]})
        return httpx.Response(404)

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            verifier = TokenVerifier(issuer, API, jwks_uri=f"{issuer}/jwks.json", http=http)
            assert (await verifier.verify(token)).sub == "s"
            with pytest.raises(InvalidToken):
                await verifier.verify(confused)

    run(go)


def test_unreachable_issuer_is_not_hammered() -> None:
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return httpx.Response(503)

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            verifier = TokenVerifier("https://id.example.com", API, http=http)
            for _ in range(20):
                with pytest.raises(InvalidToken):
                    await verifier.verify("a.b.c")
        # One discovery attempt (both well-known documents) per interval, not per request.
        assert requests == [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ]

    run(go)
