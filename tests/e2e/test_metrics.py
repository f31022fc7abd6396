"""/metrics scraped around a real flow: the counters the issue names move, labels stay
route templates, and with ``ostiary serve --workers 2`` the figures of both workers add up,
on the main port or on the separate listener."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    SECRET_KEY,
    LiveServer,
    free_port,
    server_settings,
    start_server,
)
from tests.e2e.helpers import csrf_of, interaction_of, make_client
from tests.e2e.observability_flow import Samples, full_flow, samples, seed, value
from tests.e2e.processes import ServerProcess, Servers, clean_env
from tests.e2e.test_workers import close_all, connection_per_worker

# Two workers importing at once on a busy machine may take longer than one.
START_TIMEOUT = 90


def scrape(base_url: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


# (sample, labels, how much one full_flow moves it)
FLOW_MOVES = [
    ("ostiary_tokens_issued_total", {"grant_type": "authorization_code"}, 1),
    ("ostiary_tokens_issued_total", {"grant_type": "refresh_token"}, 1),
    ("ostiary_logins_total", {"method": "password"}, 1),
    ("ostiary_login_failures_total", {"method": "password", "reason": "bad_password"}, 1),
    ("ostiary_client_auth_failures_total", {}, 1),
    ("ostiary_refresh_token_reuse_total", {}, 1),
    (
        "ostiary_http_request_duration_seconds_count",
        {"route": "/token", "method": "POST", "status": "200"},
        2,
    ),
    (
        "ostiary_http_request_duration_seconds_count",
        {"route": "/token", "method": "POST", "status": "400"},
        1,
    ),
    (
        "ostiary_http_request_duration_seconds_count",
        {"route": "/token", "method": "POST", "status": "401"},
        1,
    ),
    (
        "ostiary_http_request_duration_seconds_count",
        {"route": "/interaction/{interaction_id}/login", "method": "POST", "status": "303"},
        1,
    ),
    (
        "ostiary_http_request_duration_seconds_count",
        {"route": "/interaction/{interaction_id}/login", "method": "POST", "status": "401"},
        1,
    ),
    (
        "ostiary_http_request_duration_seconds_count",
        {"route": "/userinfo", "method": "GET", "status": "200"},
        1,
    ),
]


def assert_flow_counted(before: Samples, after: Samples) -> None:
    for name, labels, moved in FLOW_MOVES:
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta == moved, (name, labels, delta)


def test_a_flow_moves_the_counters(server: LiveServer, database_url: str) -> None:
    client, username = seed(database_url)
    before = scrape(server.base_url)
    flow = full_flow(server.base_url, client, username)
    after = scrape(server.base_url)
    assert_flow_counted(before, after)
    # Labels are templates: no interaction id, code or token became a label value.
    labels = {v for (_, pairs) in after for (_, v) in pairs}
    for secret in flow.secrets.values():
        assert secret not in labels
    # The node's state, read when scraped.
    assert value(after, "ostiary_db_pool_size") == server.settings.database_pool_size
    assert value(after, "ostiary_db_pool_connections_open") >= 1
    assert 0 <= value(after, "ostiary_signing_key_age_seconds", alg="ES256") < 86400


def test_lockout_is_counted_and_audited(database_url: str) -> None:
    port = free_port()
    settings = server_settings(
        database_url, port, lockout={"account_threshold": 2, "ip_threshold": 100_000}
    )
    live, stop = start_server(settings, port)
    try:
        client, username = seed(database_url)
        before = scrape(live.base_url)
        for _ in range(2):
            full_flow_failed_login(live.base_url, client.client_id, username)
        after = scrape(live.base_url)

        async def lockouts(services):  # type: ignore[no-untyped-def]
            return await services.store.audit.query(type="lockout.started", limit=50)

        events = live.call(lockouts)
    finally:
        stop()
    assert (
        value(after, "ostiary_lockouts_total", scope="account")
        - value(before, "ostiary_lockouts_total", scope="account")
        == 1
    )
    assert any(e.reason == "account" and e.outcome == "failure" for e in events)


def full_flow_failed_login(base_url: str, client_id: str, username: str) -> None:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://app.example.com/callback",
        "scope": "read",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=base_url, timeout=30) as web:
        page = web.get("/authorize", params=params)
        answer = web.post(
            f"{interaction_of(page.text)}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": "wrong-wrong"},
        )
        assert answer.status_code == 401, answer.text


def test_revocation_feed_lag_is_observed(server: LiveServer) -> None:
    client = make_client(server, grant_types=["client_credentials"])

    def revoke_one(http: httpx.Client) -> None:
        token = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
        ).json()["access_token"]
        assert http.post("/revoke", data={"token": token}, auth=client.basic_auth()).is_success

    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        revoke_one(http)  # so that the feed has an event, and the cursor is past 0
        cursor = _feed_cursor(http)
        assert cursor > 0
        before = scrape(server.base_url)
        revoke_one(http)
        assert http.get("/revocations", params={"after": cursor}).status_code == 200
        after = scrape(server.base_url)
    name = "ostiary_revocation_feed_lag_seconds_count"
    assert value(after, name) - value(before, name) == 1


def _feed_cursor(http: httpx.Client) -> int:
    cursor = 0
    while True:
        page = http.get("/revocations", params={"after": cursor, "limit": 1000}).text
        claims = json.loads(base64.urlsafe_b64decode(page.split(".")[1] + "=="))
        cursor = claims["cursor"]
        if not claims["more"]:
            return int(cursor)


def test_metrics_off_or_elsewhere_is_not_on_the_main_port(database_url: str) -> None:
    port, metrics_port = free_port(), free_port()
    for metrics, main_status in (
        ({"enabled": False}, 404),
        ({"port": metrics_port}, 404),
    ):
        live, stop = start_server(server_settings(database_url, port, metrics=metrics), port)
        try:
            assert httpx.get(f"{live.base_url}/metrics").status_code == main_status
            if "port" in metrics:
                found = scrape(f"http://127.0.0.1:{metrics_port}")
                assert value(found, "ostiary_db_pool_size") >= 1
        finally:
            stop()
        port = free_port()


def cluster_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    return clean_env(
        OSTIARY_DATABASE_URL=database_url,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        # This test's deliberate failures must not lock 127.0.0.1 out of the run's database.
        OSTIARY_LOCKOUT__ACCOUNT_THRESHOLD="100000",
        OSTIARY_LOCKOUT__IP_THRESHOLD="100000",
        **extra,
    )


def test_two_workers_add_up_on_the_main_port(
    database_url: str, servers: Servers, tmp_path: Path
) -> None:
    port = free_port()
    env = cluster_env(database_url, port, TMPDIR=str(tmp_path))
    server = start_cluster(servers, port, env, tmp_path)
    # The run's private directory, in the TMPDIR given.
    (directory,) = tmp_path.glob("ostiary-metrics-*")
    client, username = seed(database_url)
    before = scrape(server.base_url)
    full_flow(server.base_url, client, username)
    connections = connection_per_worker(server)
    try:
        # Each worker answers requests and scrapes: every scrape sees every worker's counts.
        for http in connections.values():
            assert http.get("/health/live").status_code == 200
        scraped = [samples(http.get("/metrics").text) for http in connections.values()]
    finally:
        close_all(connections)
    live = {"route": "/health/live", "method": "GET", "status": "200"}
    for after in scraped:
        assert_flow_counted(before, after)
        assert (
            value(after, "ostiary_http_request_duration_seconds_count", **live)
            - value(before, "ostiary_http_request_duration_seconds_count", **live)
            == 2
        )
        # Both workers sample their event loop's lag (ten times a second each) and time
        # their collections; the flow above made garbage enough for young collections.
        assert value(after, "ostiary_event_loop_lag_seconds_count") >= 2
        assert value(after, "ostiary_gc_pause_seconds_count", generation="0") >= 1
    server.stop_cleanly()
    assert not directory.exists()


def _workers(pid: int) -> list[int]:
    """The uvicorn workers of a serve process (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def start_cluster(servers: Servers, port: int, env: dict[str, str], cwd: Path) -> ServerProcess:
    server = servers.start("--workers", "2", port=port, env=env, cwd=cwd, wait=False)
    server.wait_healthy(timeout=START_TIMEOUT)
    return server


def test_two_workers_separate_listener_and_dead_workers_forgotten(
    database_url: str, servers: Servers, tmp_path: Path
) -> None:
    port, metrics_port, pool = free_port(), free_port(), 3
    env = cluster_env(
        database_url,
        port,
        OSTIARY_METRICS__PORT=str(metrics_port),
        OSTIARY_DATABASE_POOL_SIZE=str(pool),
    )
    server = start_cluster(servers, port, env, tmp_path)
    listener = f"http://127.0.0.1:{metrics_port}"
    assert httpx.get(f"{server.base_url}/metrics").status_code == 404
    client, username = seed(database_url)
    before = scrape(listener)
    full_flow(server.base_url, client, username)
    after = scrape(listener)
    assert_flow_counted(before, after)
    # Both workers' pools, added up by the listener in the serve process. A worker writes
    # its figures once started and every few seconds: the second may still be starting.
    deadline = time.monotonic() + 15
    while (pool_size := value(scrape(listener), "ostiary_db_pool_size")) != 2 * pool:
        assert time.monotonic() < deadline, pool_size
        time.sleep(0.2)
    # A worker killed outright: uvicorn starts another; the dead one's pool stops counting.
    worker = _workers(server.proc.pid)[0]
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        found = scrape(listener)
        workers = _workers(server.proc.pid)
        replaced = worker not in workers and len(workers) == 2
        if replaced and value(found, "ostiary_db_pool_size") == 2 * pool:
            break
        assert time.monotonic() < deadline, (workers, value(found, "ostiary_db_pool_size"))
        time.sleep(0.2)
    # Counters never go down: the dead worker's counts stay in the totals.
    name, labels, _ = FLOW_MOVES[0]
    assert value(found, name, **labels) >= value(after, name, **labels)
    server.stop_cleanly()
    with pytest.raises(httpx.TransportError):
        httpx.get(listener, timeout=2)
