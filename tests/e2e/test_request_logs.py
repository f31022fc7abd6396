"""``ostiary serve`` with JSON logs: every line one JSON object, one line per request with
its id, route, status and latency, security events logged; and the log of a full login and
token flow holds none of the flow's secrets (its password, client secret, code, tokens,
PKCE verifier, cookies, nor a query string)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SECRET_KEY, free_port
from tests.e2e.observability_flow import full_flow, seed
from tests.e2e.processes import ServerProcess, Servers, clean_env


def start(database_url: str, servers: Servers, tmp_path: Path, **extra: str) -> ServerProcess:
    port = free_port()
    env = clean_env(
        OSTIARY_DATABASE_URL=database_url,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_LOG_FORMAT="json",
        OSTIARY_LOCKOUT__ACCOUNT_THRESHOLD="100000",
        OSTIARY_LOCKOUT__IP_THRESHOLD="100000",
        **extra,
    )
    return servers.start(port=port, env=env, cwd=tmp_path)


def log_lines(stderr: str) -> list[dict[str, Any]]:
    """The log: every line, the command's own start-up lines included, is one JSON object."""
    return [json.loads(line) for line in stderr.splitlines()]


def test_json_log_of_a_full_flow_holds_no_secret(
    database_url: str, servers: Servers, tmp_path: Path
) -> None:
    server = start(database_url, servers, tmp_path)
    client, username = seed(database_url)
    flow = full_flow(server.base_url, client, username)
    server.stop_cleanly()
    stderr = server.stderr
    for name, secret in flow.secrets.items():
        assert secret not in stderr, f"the {name} is in the log"

    records = log_lines(stderr)
    assert any(r["logger"] == "uvicorn.error" for r in records)
    # serve's own lines before uvicorn starts: the keys it made, where it listens.
    started = [r for r in records if r["logger"] == "ostiary.serve"]
    assert [r["kid"] for r in started if "kid" in r]
    assert any(r.get("url") == server.base_url for r in started)
    requests = [r for r in records if r["logger"] == "ostiary.request"]
    for record in requests:
        assert {"request_id", "method", "route", "status", "duration_ms"} <= record.keys()
        assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
    by_id = {r["request_id"]: r for r in requests}
    # The response's X-Request-ID names the log line of that request.
    assert by_id[flow.request_ids[0]]["route"] == "/authorize"
    routes = {(r["method"], r["route"], r["status"]) for r in requests}
    assert {
        ("GET", "/authorize", 200),
        ("POST", "/interaction/{interaction_id}/login", 303),
        ("POST", "/interaction/{interaction_id}/login", 401),
        ("POST", "/token", 200),
        ("POST", "/token", 400),
        ("POST", "/token", 401),
        ("GET", "/userinfo", 200),
    } <= routes
    # Client and subject, where the request's audit events named them.
    redeemed = [r for r in requests if r["route"] == "/token" and r["status"] == 200]
    assert all(r["client_id"] == client.client_id and r["subject"] for r in redeemed)

    security = [r for r in records if r["logger"] == "ostiary.security"]
    events = {r["event"] for r in security}
    assert {
        "login.success",
        "login.failure",
        "client_auth.failure",
        "refresh_token.reuse_detected",
    } <= events
    # Logged in the request it happened in: same request id as that request's line.
    success = next(r for r in security if r["event"] == "login.success")
    assert by_id[success["request_id"]]["route"] == "/interaction/{interaction_id}/login"
    assert username not in stderr


def test_request_id_from_a_trusted_proxy_only(
    database_url: str, servers: Servers, tmp_path: Path
) -> None:
    trusting = start(database_url, servers, tmp_path, OSTIARY_TRUSTED_PROXIES="127.0.0.1")
    distrusting = start(database_url, servers, tmp_path)
    given = {"X-Request-ID": "lb-7f3a.9_Z"}
    with httpx.Client(timeout=10) as http:
        kept = http.get(f"{trusting.base_url}/health/live", headers=given)
        assert kept.headers["x-request-id"] == "lb-7f3a.9_Z"
        ignored = http.get(f"{distrusting.base_url}/health/live", headers=given)
        assert ignored.headers["x-request-id"] != "lb-7f3a.9_Z"
        # A shape that could break a log line is replaced even from a trusted proxy.
        odd = http.get(f"{trusting.base_url}/health/live", headers={"X-Request-ID": "a b\tc"})
        assert odd.headers["x-request-id"] != "a b\tc"
        # Every answer carries one, the machine endpoints' too.
        assert http.get(f"{distrusting.base_url}/jwks.json").headers["x-request-id"]
    trusting.stop_cleanly()
    records = log_lines(trusting.stderr)
    assert any(r.get("request_id") == "lb-7f3a.9_Z" for r in records)


def test_request_id_from_a_trusted_proxy_that_forwards_the_client_address(
    database_url: str, servers: Servers, tmp_path: Path
) -> None:
    # 127.0.0.1 is the proxy; 127.0.0.2, another address on the loopback, is not.
    server = start(database_url, servers, tmp_path, OSTIARY_TRUSTED_PROXIES="127.0.0.1")
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "lb-proxied.1"}
    with httpx.Client(timeout=10) as proxy:
        kept = proxy.get(f"{server.base_url}/health/live", headers=forwarded)
    # uvicorn replaces the client address with the forwarded one; the id is still the
    # proxy's, since the connection came from it.
    assert kept.headers["x-request-id"] == "lb-proxied.1"
    stranger = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(timeout=10, transport=stranger) as client:
        own = {"X-Forwarded-For": "10.0.0.1", "X-Request-ID": "mine-1"}
        replaced = client.get(f"{server.base_url}/health/live", headers=own)
    assert replaced.headers["x-request-id"] != "mine-1"
    server.stop_cleanly()
    lines = {r.get("request_id"): r for r in log_lines(server.stderr)}
    assert lines["lb-proxied.1"]["ip"] == "203.0.113.9"
    assert lines[replaced.headers["x-request-id"]]["ip"] == "127.0.0.2"
    assert "mine-1" not in server.stderr
