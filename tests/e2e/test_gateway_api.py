"""`ostiary gateway` in API mode: a real Ostiary, a real upstream app and the
gateway, each a uvicorn on its own free port."""

import base64
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from ostiary.accounts import lifecycle
from ostiary.gateway import Gateway, load_config
from ostiary.services import Services
from tests.conftest import LiveServer, free_port
from tests.e2e.helpers import RegisteredClient, make_client, make_user, obtain_code, redeem_code
from tests.e2e.upstream_app import serving, upstream_app, wait_until

API = "https://orders.example.com"
RULES = [
    "GET /api/* scope=orders:read",
    "POST,PUT /api/* scope=orders:write",
    "/admin/* role=admin",
    "GET /me scope=read",
    "GET /health public",
    "POST /upload public",
    "GET /download public",
    "GET /hang public",
    "GET /ws scope=orders:read",
]
LIMIT = 8 * 1024 * 1024
FEED_INTERVAL = 0.5


def gateway_for(server: LiveServer, upstream: str, **overrides: Any) -> Gateway:
    values: dict[str, Any] = {
        "issuer": server.base_url,
        "upstream": upstream,
        "rules": RULES,
        "audience": API,
        "max_body_bytes": LIMIT,
        "upstream_timeout": 1.0,
        "feed_interval": FEED_INTERVAL,
    }
    values.update(overrides)
    return Gateway(load_config(values))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serving(upstream_app()) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(server: LiveServer, upstream: str) -> Iterator[str]:
    with serving(gateway_for(server, upstream)) as url:
        yield url


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


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seen_headers(response: httpx.Response) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def raw_request(
    base: str, request_target: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Send a request target byte for byte (httpx would normalise the path first)."""
    host, port = base.removeprefix("http://").split(":")
    lines = [f"GET {request_target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


# -- who may pass ----------------------------------------------------------------------


def test_rfc6750_valid_token_is_forwarded_with_verified_identity(
    server: LiveServer, gateway: str, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)
    forged = {
        "X-Forwarded-User": "admin",
        "X-Forwarded-Groups": "admins",
        "x-forwarded-email": "a@b",
    }
    response = httpx.get(f"{gateway}/api/orders?x=1", headers={**bearer(token), **forged})
    assert response.status_code == 200, response.text
    seen = seen_headers(response)
    assert response.json()["raw_path"] == "/api/orders"
    assert response.json()["query"] == "x=1"
    # Forged identity headers are gone; the verified subject is set.
    assert seen["x-forwarded-user"] == [api_client.client_id]
    assert "x-forwarded-groups" not in seen and "x-forwarded-email" not in seen
    # Authorization is stripped by default.
    assert "authorization" not in seen
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [gateway.removeprefix("http://")]
    assert seen["via"] == ["1.1 ostiary-gateway"]


def test_rfc6750_3_missing_token_is_401_with_challenge(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/orders")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="ostiary-gateway"')
    # RFC 6750 §3.1: no error code when no credentials were sent.
    assert "error=" not in challenge


def test_rfc6750_3_1_invalid_token_is_401_invalid_token(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/orders", headers=bearer("a.b.c"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_rfc6750_3_1_wrong_scope_is_403_insufficient_scope(
    server: LiveServer, gateway: str, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client, "orders:read")
    response = httpx.post(f"{gateway}/api/orders", headers=bearer(token), content=b"{}")
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="orders:write"' in challenge
    role = httpx.get(f"{gateway}/admin/users", headers=bearer(token))
    assert role.status_code == 403
    assert role.json()["error"] == "insufficient_scope"


def test_no_matching_rule_is_404_deny_by_default(
    server: LiveServer, gateway: str, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)
    for path in ("/secret", "/apiary", "/health/extra"):
        response = httpx.get(f"{gateway}{path}", headers=bearer(token))
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    # A method no rule names is refused the same way.
    assert httpx.delete(f"{gateway}/api/orders", headers=bearer(token)).status_code == 404


def test_public_rule_needs_no_token_and_strips_forged_identity(gateway: str) -> None:
    response = httpx.get(f"{gateway}/health", headers={"X-Forwarded-User": "root"})
    assert response.status_code == 200
    assert "x-forwarded-user" not in seen_headers(response)


def test_forward_authorization_when_configured(
    server: LiveServer, upstream: str, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)
    with serving(gateway_for(server, upstream, forward_authorization=True)) as url:
        response = httpx.get(f"{url}/api/orders", headers=bearer(token))
    assert seen_headers(response)["authorization"] == [f"Bearer {token}"]


# -- paths are normalised before matching, and that is what the upstream gets -------------


@pytest.mark.parametrize(
    ("target", "status", "forwarded"),
    [
        ("//api//orders", 200, "/api/orders"),
        ("/api/./orders", 200, "/api/orders"),
        ("/api/%6Frders", 200, "/api/orders"),
        ("/admin/../api/orders", 200, "/api/orders"),
        ("/api/../admin/users", 403, None),
        ("/api/%2e%2e/admin/users", 403, None),
        ("/api/%2E%2E/%2e%2e/admin", 400, None),
        ("/api%2forders", 400, None),
        ("/api/orders%5c..%5cadmin", 400, None),
        ("/api/orders%00", 400, None),
        ("/API/orders", 404, None),
        ("/api/%zz", 400, None),
    ],
)
def test_path_tricks_are_normalised_or_refused(
    server: LiveServer,
    gateway: str,
    api_client: RegisteredClient,
    target: str,
    status: int,
    forwarded: str | None,
) -> None:
    token = token_for(server, api_client)
    code, body = raw_request(gateway, target, bearer(token))
    assert code == status, body
    if forwarded is not None:
        assert json.loads(body)["raw_path"] == forwarded


# -- RFC 9110 §7.6.1 hop-by-hop fields ----------------------------------------------------


def test_rfc9110_7_6_1_hop_by_hop_headers_are_not_forwarded(gateway: str) -> None:
    response = httpx.get(
        f"{gateway}/health",
        headers={
            "Connection": "keep-alive, X-Private",
            "X-Private": "for the next hop only",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Upgrade": "h2c",
            "X-Kept": "yes",
        },
    )
    seen = seen_headers(response)
    for name in ("connection", "x-private", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert name not in seen, name
    assert seen["x-kept"] == ["yes"]
    # The upstream's own hop-by-hop fields do not reach the client either.
    assert "x-secret-hop" not in response.headers
    assert "keep-alive" not in response.headers
    assert response.headers["via"] == "1.1 ostiary-gateway"


# -- bodies, limits and upstream failures ---------------------------------------------------


def test_big_bodies_are_streamed_both_ways(gateway: str) -> None:
    payload = bytes(range(256)) * (6 * 4096)  # 6 MiB

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    response = httpx.post(f"{gateway}/upload", content=chunks(), timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    size = 20 * 1024 * 1024
    with httpx.stream("GET", f"{gateway}/download", params={"size": size}, timeout=30) as down:
        assert down.status_code == 200
        assert sum(len(chunk) for chunk in down.iter_raw()) == size


def test_body_over_the_limit_is_413(gateway: str) -> None:
    declared = httpx.post(f"{gateway}/upload", content=b"x" * (LIMIT + 1), timeout=30)
    assert declared.status_code == 413
    assert declared.json()["error"] == "request_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 65536 + 2):
            yield b"y" * 65536

    streamed = httpx.post(f"{gateway}/upload", content=chunks(), timeout=30)
    assert streamed.status_code == 413


def test_upstream_down_is_502_and_hanging_is_504(
    server: LiveServer, upstream: str, gateway: str
) -> None:
    with serving(gateway_for(server, f"http://127.0.0.1:{free_port()}")) as url:
        down = httpx.get(f"{url}/health")
    assert down.status_code == 502
    assert down.json() == {
        "error": "bad_gateway",
        "error_description": "the upstream could not be reached",
    }
    started = time.monotonic()
    hung = httpx.get(f"{gateway}/hang", timeout=30)
    assert hung.status_code == 504
    assert hung.json()["error"] == "upstream_timeout"
    assert "127.0.0.1" not in hung.text
    assert time.monotonic() - started < 10


# -- WebSockets ----------------------------------------------------------------------------


def test_websocket_echo_through_the_gateway(
    server: LiveServer, gateway: str, api_client: RegisteredClient
) -> None:
    token = token_for(server, api_client)
    url = gateway.replace("http", "ws", 1) + "/ws"
    with ws_connect(url, additional_headers=bearer(token)) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "echo:hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(timeout=10) == b"\x03\x02\x01"
    # A refused handshake gets the HTTP answer a request would (ASGI websocket.http.response).
    with pytest.raises(InvalidStatus) as refused, ws_connect(url):
        pass
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    other = token_for(server, api_client, "orders:write")
    with pytest.raises(InvalidStatus) as scoped, ws_connect(url, additional_headers=bearer(other)):
        pass
    assert scoped.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as unrouted, ws_connect(url + "/elsewhere"):
        pass
    assert unrouted.value.response.status_code == 404


# -- revocation and key rotation -------------------------------------------------------------


def test_disabled_user_is_refused_within_the_feed_interval(
    server: LiveServer, gateway: str
) -> None:
    client = make_client(server, scopes=["read"], audience=[API])
    username = make_user(server)
    code, verifier, params = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = redeem_code(http, client, code, verifier, params)
    token = response.json()["access_token"]
    assert httpx.get(f"{gateway}/me", headers=bearer(token)).status_code == 200

    async def disable(services: Services) -> None:
        user = await services.store.users.by_username(username)
        assert user is not None
        await lifecycle.disable(services, user, actor="test")

    server.call(disable)
    elapsed = wait_until(
        lambda: httpx.get(f"{gateway}/me", headers=bearer(token)).status_code == 401, timeout=10
    )
    assert elapsed < FEED_INTERVAL + 2


def test_jwks_rotation_is_picked_up_without_restart(
    server: LiveServer, gateway: str, api_client: RegisteredClient
) -> None:
    before = token_for(server, api_client)
    assert httpx.get(f"{gateway}/api/orders", headers=bearer(before)).status_code == 200

    async def rotate(services: Services) -> str:
        return await services.keys.rotate("ES256")

    new_kid = server.call(rotate)
    time.sleep(1.1)  # the test server's key cache lives one second
    after = token_for(server, api_client)
    segment = after.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert header["kid"] == new_kid
    # The gateway refetches the JWKS on the unknown kid (rate limited), no restart needed.
    wait_until(
        lambda: httpx.get(f"{gateway}/api/orders", headers=bearer(after)).status_code == 200,
        timeout=15,
    )
    # RFC 7517: the retired key stays published, so older tokens still pass.
    assert httpx.get(f"{gateway}/api/orders", headers=bearer(before)).status_code == 200
