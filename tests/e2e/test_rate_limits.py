"""Abuse limits against real servers: per-address rate limits and no client lockout by
strangers.

Addresses are simulated the way a deployment sees them: ``ostiary serve`` behind a trusted
proxy (OSTIARY_TRUSTED_PROXIES=127.0.0.1) takes the client address from X-Forwarded-For,
and any other peer's X-Forwarded-For is ignored. Each test uses addresses of its own
(198.18.0.0/15, the benchmarking range), since the databases are shared by the run, and
day-long windows, so no window ends in the middle of a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from sqlalchemy import func, select

from ostiary import clock
from ostiary.accounts.throttle import client_key, ip_key
from ostiary.services import build_services
from ostiary.settings import load_settings
from ostiary.storage.tables import rate_limit_counters
from tests.conftest import SECRET_KEY, LiveServer, free_port, server_settings, start_server
from tests.e2e.helpers import make_client
from tests.e2e.processes import ServerProcess, Servers, clean_env
from tests.e2e.test_lockout import own_address, throttle_row, token_request

DAY = 86400
REDIS_URL = "redis://127.0.0.1:6379/0"


def address() -> str:
    return f"198.18.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def settle_window() -> None:
    """Wait out the last seconds of a day-long window (the test would see it restart)."""
    left = DAY - clock.now() % DAY
    if left < 60:
        time.sleep(left + 1)


def limited_server(servers: Servers, database_url: str, cwd: Path, **env: str) -> ServerProcess:
    """``ostiary serve`` behind a trusted proxy on 127.0.0.1, with these limits."""
    port = free_port()
    settings = clean_env(
        OSTIARY_DATABASE_URL=database_url,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_KEYS__PUBLISH_AHEAD="0",
        OSTIARY_TRUSTED_PROXIES="127.0.0.1",
        OSTIARY_RATE_LIMITS__SYNC_INTERVAL="0.2",
        **env,
    )
    return servers.start(port=port, env=settings, cwd=cwd)


def forwarded(source: str) -> dict[str, str]:
    return {"X-Forwarded-For": source}


def authorize(base_url: str, source: str, peer: str | None = None) -> httpx.Response:
    """GET /authorize naming a redirect URI nobody registered, as a flood would."""
    transport = httpx.HTTPTransport(local_address=peer) if peer else None
    with httpx.Client(base_url=base_url, transport=transport, timeout=30) as http:
        return http.get(
            "/authorize",
            params={
                "client_id": "nobody",
                "response_type": "code",
                "redirect_uri": "https://attacker.example/cb",
            },
            headers=forwarded(source),
            follow_redirects=False,
        )


def assert_limited_page(response: httpx.Response, window: int = DAY) -> None:
    """RFC 6585 §4: 429, Retry-After (RFC 9110 §10.2.3), a page saying so, no redirect."""
    assert response.status_code == 429, (response.status_code, response.text[-600:])
    assert 1 <= int(response.headers["retry-after"]) <= window
    assert response.headers["content-type"].startswith("text/html")
    assert "Too many requests" in response.text
    assert "location" not in response.headers
    assert "attacker.example" not in response.text


# -- the token endpoint: no lockout by strangers ------------------------------------------


@contextlib.contextmanager
def lockout_server(database_url: str) -> Iterator[LiveServer]:
    port = free_port()
    lockout = {"account_threshold": 3, "ip_threshold": 6, "base_lock": 60}
    live, stop = start_server(server_settings(database_url, port, lockout=lockout), port)
    try:
        yield live
    finally:
        stop()


def test_a_stranger_cannot_lock_a_client_out(database_url: str) -> None:
    """RFC 6749 §2.3.1 and §10.10: wrong secrets are throttled per client and address and
    per address, never per client alone. A stranger's wrong secrets for a known client id
    lock out the stranger's own attempts; the client authenticates from anywhere, even
    from the stranger's address (behind one NAT), with its own secret."""
    stranger = own_address()
    with lockout_server(database_url) as live:
        client = make_client(live, redirect_uris=[], scopes=["read"])
        assert client.secret is not None
        codes = [
            token_request(live.base_url, client.client_id, "guess", source=stranger).status_code
            for _ in range(8)
        ]
        assert codes[:3] == [401, 401, 401], codes
        assert set(codes[3:]) == {429}, codes
        locked = token_request(live.base_url, client.client_id, "guess", source=stranger)
        assert locked.status_code == 429
        assert locked.json()["error"] == "invalid_client"
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        row = throttle_row(live, client_key(client.client_id, stranger))
        assert row is not None and row["locked_until"] > clock.now()

        # The real client, from another address and from the stranger's own.
        for source in (None, stranger):
            granted = token_request(live.base_url, *client.basic_auth(), source=source)
            assert granted.status_code == 200, granted.text
            assert "access_token" in granted.json()
        # ... on every endpoint that authenticates clients.
        for path in ("/introspect", "/revoke"):
            answer = token_request(live.base_url, *client.basic_auth(), stranger, path)
            assert answer.status_code == 200, answer.text
        # Never a per-client record that could lock it everywhere.
        assert throttle_row(live, f"client:{client.client_id}") is None

        # Guessing other client ids from the address: counted per address too (locked
        # attempts above were not counted), and at the address threshold (6) it is
        # refused for any client id; the client itself still gets in from there.
        guesses = [
            token_request(live.base_url, f"other-{i}", "x", source=stranger).status_code
            for i in range(4)
        ]
        assert guesses == [401, 401, 401, 429], guesses
        granted = token_request(live.base_url, *client.basic_auth(), source=stranger)
        assert granted.status_code == 200, granted.text
        # An admin's unlock clears the client's counters from every address.
        cleared = live.call(lambda services: services.throttle.unlock_client(client.client_id))
        assert cleared == 1
        live.call(lambda services: services.throttle.unlock([ip_key(stranger, "token")]))
        again = token_request(live.base_url, client.client_id, "guess", source=stranger)
        assert again.status_code == 401


# -- per-address rate limits -------------------------------------------------------------


def test_a_flood_from_one_address_is_refused_while_others_are_served(
    servers: Servers, database_url: str, tmp_path: Path
) -> None:
    """Each endpoint group has its own count per address; over it, 429 with Retry-After,
    a page on the browser endpoints and RFC 6749 §5.2 JSON on the OAuth JSON ones."""
    settle_window()
    limits = {
        f"OSTIARY_RATE_LIMITS__{group}__{field}": value
        for group in ("AUTHORIZE", "LOGIN", "TOKEN")
        for field, value in (("REQUESTS", "4"), ("WINDOW", str(DAY)))
    }
    live = limited_server(servers, database_url, tmp_path, **limits)
    flood, office = address(), address()

    statuses = [authorize(live.base_url, flood).status_code for _ in range(4)]
    assert 429 not in statuses, statuses
    assert_limited_page(authorize(live.base_url, flood))
    # Another address is served, and the flooder's other endpoint groups count apart.
    assert authorize(live.base_url, office).status_code == 400
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        logins = [
            http.post("/account/login", data={}, headers=forwarded(flood)).status_code
            for _ in range(4)
        ]
        assert 429 not in logins, logins
        assert_limited_page(http.post("/account/login", data={}, headers=forwarded(flood)))

        for _ in range(4):
            answer = http.post("/token", data={}, headers=forwarded(flood))
            assert answer.status_code == 400, answer.text
        refused = http.post("/token", data={}, headers=forwarded(flood))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/json"
        assert refused.headers["cache-control"] == "no-store"
        assert 1 <= int(refused.headers["retry-after"]) <= DAY
        assert refused.json()["error"] == "temporarily_unavailable"
        assert http.post("/token", data={}, headers=forwarded(office)).status_code == 400

    # Only a trusted proxy names the client: a peer that is not one is counted by its own
    # address whatever X-Forwarded-For it sends (else a flood would name a new one each
    # time), and the trusted proxy's clients are not affected by it.
    peer = own_address()
    statuses = [authorize(live.base_url, address(), peer=peer).status_code for _ in range(4)]
    assert 429 not in statuses, statuses
    assert_limited_page(authorize(live.base_url, address(), peer=peer))
    assert authorize(live.base_url, address()).status_code == 400

    # One log line when the flooder's limit first tripped, none per refused request.
    deadline = time.monotonic() + 5
    while f"authorize from {flood}" not in live.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.stderr.count(f"authorize from {flood}") == 1, live.stderr


def _shared_limit(servers: Servers, database_url: str, cwd: Path, **env: str) -> None:
    settle_window()
    limits = {
        "OSTIARY_RATE_LIMITS__AUTHORIZE__REQUESTS": "10",
        "OSTIARY_RATE_LIMITS__AUTHORIZE__WINDOW": str(DAY),
        **env,
    }
    # One after the other: the first generates the signing keys, the second uses them.
    a = limited_server(servers, database_url, cwd, **limits)
    b = limited_server(servers, database_url, cwd, **limits)
    flood = address()
    assert all(authorize(a.base_url, flood).status_code == 400 for _ in range(6))
    assert authorize(b.base_url, flood).status_code == 400
    # A few exchanges: each node has sent its count and read back the total of both (7).
    time.sleep(1)
    # B decides on that total plus its own new requests: 3 more, then refused.
    statuses = [authorize(b.base_url, flood).status_code for _ in range(3)]
    assert statuses == [400, 400, 400], statuses
    assert_limited_page(authorize(b.base_url, flood))
    # A saw no request since, but refreshes a counter near its limit: it refuses too.
    time.sleep(1)
    assert_limited_page(authorize(a.base_url, flood))
    assert authorize(a.base_url, address()).status_code == 400


def test_the_limit_is_shared_by_two_server_processes(
    servers: Servers, database_url: str, tmp_path: Path
) -> None:
    """Two ``ostiary serve`` on one database (the default backend) add up one count."""
    _shared_limit(servers, database_url, tmp_path)


def test_the_limit_is_shared_through_redis(servers: Servers, tmp_path: Path) -> None:
    """The same with the counts in Redis (rate_limits.backend = redis), a prefix of this
    test's own, whose keys are deleted afterwards."""
    prefix = f"ostiary-test:{secrets.token_hex(6)}:"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}"
    try:
        _shared_limit(
            servers,
            database_url,
            tmp_path,
            OSTIARY_RATE_LIMITS__BACKEND="redis",
            OSTIARY_RATE_LIMITS__REDIS_URL=REDIS_URL,
            OSTIARY_RATE_LIMITS__REDIS_PREFIX=prefix,
        )
        assert asyncio.run(_redis_keys(prefix)), "the counts went to Redis"
        assert asyncio.run(_database_counters(database_url)) == 0, "and not to the database"
    finally:
        servers.stop_all()
        asyncio.run(_redis_delete(prefix))


async def _redis_keys(prefix: str) -> list[bytes]:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        return [name async for name in client.scan_iter(match=f"{prefix}*")]
    finally:
        await client.aclose()


async def _redis_delete(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        names = [name async for name in client.scan_iter(match=f"{prefix}*")]
        if names:
            await client.delete(*names)
    finally:
        await client.aclose()


async def _database_counters(url: str) -> int:
    services = build_services(load_settings(database_url=url, secret_key=SECRET_KEY))
    try:
        async with services.engine.connect() as conn:
            count = await conn.scalar(select(func.count()).select_from(rate_limit_counters))
        return int(count or 0)
    finally:
        await services.close()
