"""Brute-force protection against real servers: the login form and the token endpoint.

Counters and locks live in the ``throttles`` table, so every node sees them. Each test here
starts its own server with low thresholds (the shared ``server`` fixture never locks), and
time is moved by rewriting ``locked_until`` rather than by sleeping. Tests that count
failures per address send from a loopback address of their own (127.x.y.z), so they neither
see nor leave counters for 127.0.0.1, which every other test shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from ostiary import clock
from ostiary.accounts.throttle import account_key, client_key, ip_key
from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.engine import create_engine
from ostiary.storage.tables import throttles
from tests.conftest import (
    SECRET_KEY,
    LiveServer,
    free_port,
    server_settings,
    start_server,
    unique,
)
from tests.databases import fresh_database
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    csrf_of,
    login_page,
    make_client,
    make_user,
    pkce_pair,
)
from tests.e2e.processes import Servers, clean_env

LOCKED = "Too many failed attempts. Try again in {} minute(s)."
WRONG = "Wrong username or password."
HIGH = 100_000


# -- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def lockout_server(database_url: str, **lockout: int) -> Iterator[LiveServer]:
    """A server of its own with these lockout settings (thresholds default to never)."""
    port = free_port()
    values: dict[str, int] = {"account_threshold": HIGH, "ip_threshold": HIGH, **lockout}
    live, stop = start_server(server_settings(database_url, port, lockout=values), port)
    try:
        yield live
    finally:
        stop()


def own_address() -> str:
    """A loopback source address no other test uses (all of 127/8 reaches 127.0.0.1)."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def http(base_url: str, source: str | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source) if source else None
    return httpx.Client(base_url=base_url, transport=transport, follow_redirects=False, timeout=30)


def login(
    base_url: str,
    client: RegisteredClient,
    username: str,
    password: str,
    source: str | None = None,
) -> httpx.Response:
    """One sign-in attempt in a fresh browser: /authorize (the login page), the form post.

    303: signed in; 401: wrong username or password; 429: locked out.
    """
    with http(base_url, source) as web:
        interaction, form = login_page(web, authorize_params(client, pkce_pair()[1]))
        return web.post(
            f"{interaction}/login",
            data={"csrf": csrf_of(form.text), "username": username, "password": password},
        )


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert WRONG in response.text


def assert_locked(response: httpx.Response, minutes: int | None = None) -> None:
    """The 429 login page: a clear message, the form again, and no hint about the password."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "Too many failed attempts" in response.text
    if minutes is not None:
        assert LOCKED.format(minutes) in response.text
    assert WRONG not in response.text
    assert 'name="password"' in response.text


def assert_signed_in(response: httpx.Response) -> None:
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/interaction/")


async def _row(services: Services, key: str) -> dict[str, Any] | None:
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(throttles).where(throttles.c.key == key))).first()
    return dict(row._mapping) if row else None


def throttle_row(server: LiveServer, key: str) -> dict[str, Any] | None:
    return server.call(lambda services: _row(services, key))


def lock_seconds(server: LiveServer, key: str) -> int:
    row = throttle_row(server, key)
    assert row is not None, f"no throttle row for {key}"
    return row["locked_until"] - clock.now()


def expire_lock(server: LiveServer, key: str) -> None:
    """Move the lock into the past, as if its time had run out."""

    async def move(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(
                update(throttles).where(throttles.c.key == key).values(locked_until=clock.now() - 1)
            )

    server.call(move)


def unlock(server: LiveServer, *keys: str) -> int:
    return server.call(lambda services: services.throttle.unlock(list(keys)))


def token_request(
    base_url: str, client_id: str, secret: str, source: str | None = None, path: str = "/token"
) -> httpx.Response:
    data = {"grant_type": "client_credentials"} if path == "/token" else {"token": "x"}
    with http(base_url, source) as api:
        return api.post(path, data=data, auth=(client_id, secret))


def assert_client_locked(response: httpx.Response, longest: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "invalid_client"
    assert "too many failed attempts" in response.json()["error_description"]
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= longest, retry_after


# -- the login form ------------------------------------------------------------------------


def test_account_locks_after_threshold_even_for_the_right_password(database_url: str) -> None:
    with lockout_server(database_url, account_threshold=3, base_lock=60) as live:
        client = make_client(live)
        username = make_user(live)
        bystander = make_user(live)

        # Spelling variants of the name count against the same account: no way around it.
        for typed in (username, username.upper(), f"  {username} "):
            assert_refused(login(live.base_url, client, typed, "wrong password"))
        row = throttle_row(live, account_key(username))
        assert row is not None and row["failures"] == 3
        assert 50 <= lock_seconds(live, account_key(username)) <= 60

        # Locked: the right password is refused like a wrong one, with the same page.
        right = login(live.base_url, client, username, PASSWORD)
        wrong = login(live.base_url, client, username, "wrong again")
        assert_locked(right, minutes=1)
        assert_locked(wrong, minutes=1)
        assert right.text.count("Too many") == wrong.text.count("Too many") == 1
        # Attempts while locked are not counted (they never reach the password check).
        row = throttle_row(live, account_key(username))
        assert row is not None and row["failures"] == 3

        # The lock is per account: someone else signs in from the same address.
        assert_signed_in(login(live.base_url, client, bystander, PASSWORD))


def test_lock_expires_then_the_right_password_works_and_clears_the_counter(
    database_url: str,
) -> None:
    with lockout_server(database_url, account_threshold=3) as live:
        client = make_client(live)
        username = make_user(live)
        key = account_key(username)
        for _ in range(3):
            assert_refused(login(live.base_url, client, username, "nope"))
        assert_locked(login(live.base_url, client, username, PASSWORD))

        expire_lock(live, key)
        assert_signed_in(login(live.base_url, client, username, PASSWORD))
        assert throttle_row(live, key) is None, "a successful login clears the account counter"

        # Counting starts over: one more failure is one failure, not a fresh lock.
        assert_refused(login(live.base_url, client, username, "nope"))
        row = throttle_row(live, key)
        assert row is not None
        assert row["failures"] == 1
        assert row["locked_until"] < clock.now()
        assert_signed_in(login(live.base_url, client, username, PASSWORD))


def test_locks_grow_exponentially_up_to_the_maximum(database_url: str) -> None:
    with lockout_server(database_url, account_threshold=2, base_lock=60, max_lock=150) as live:
        client = make_client(live)
        username = make_user(live)
        key = account_key(username)
        for _ in range(2):
            assert_refused(login(live.base_url, client, username, "nope"))
        first = lock_seconds(live, key)
        assert 50 <= first <= 60
        assert_locked(login(live.base_url, client, username, PASSWORD), minutes=1)

        # The next failure after the lock ran out locks again, for twice as long.
        expire_lock(live, key)
        assert_refused(login(live.base_url, client, username, "nope"))
        second = lock_seconds(live, key)
        assert 110 <= second <= 120
        assert second > first
        assert_locked(login(live.base_url, client, username, PASSWORD), minutes=2)

        # Doubling stops at max_lock (150 s, not 240 s).
        expire_lock(live, key)
        assert_refused(login(live.base_url, client, username, "nope"))
        third = lock_seconds(live, key)
        assert 140 <= third <= 150
        assert_locked(login(live.base_url, client, username, PASSWORD), minutes=3)


def test_ip_threshold_locks_an_address_across_usernames(database_url: str) -> None:
    address = own_address()
    with lockout_server(database_url, ip_threshold=3, base_lock=60) as live:
        client = make_client(live)
        victim = make_user(live)
        try:
            # Three different names, each failing once: no account reaches its threshold.
            for name in (unique("nobody"), unique("nobody"), make_user(live)):
                assert_refused(login(live.base_url, client, name, "guess", source=address))
            row = throttle_row(live, ip_key(address))
            assert row is not None and row["failures"] == 3
            assert throttle_row(live, account_key(victim)) is None

            # The address is locked, for every account, even with the right password.
            assert_locked(login(live.base_url, client, victim, PASSWORD, source=address), 1)
            # The account is not: the same person from another address gets in.
            assert_signed_in(login(live.base_url, client, victim, PASSWORD))
            # A successful login clears only the account counter, never the address's.
            assert throttle_row(live, ip_key(address)) is not None
        finally:
            unlock(live, ip_key(address))


def test_admin_unlock_lifts_the_lock_at_once(database_url: str) -> None:
    with lockout_server(database_url, account_threshold=3) as live:
        client = make_client(live)
        username = make_user(live)
        for _ in range(3):
            assert_refused(login(live.base_url, client, username, "nope"))
        assert_locked(login(live.base_url, client, username, PASSWORD))

        assert unlock(live, account_key(username)) == 1
        assert throttle_row(live, account_key(username)) is None
        assert_signed_in(login(live.base_url, client, username, PASSWORD))
        assert unlock(live, account_key(username)) == 0, "nothing left to unlock"


# -- the token endpoint --------------------------------------------------------------------


def test_token_endpoint_locks_wrong_secrets_per_client_and_address(database_url: str) -> None:
    """Wrong secrets for one client from one address are refused with 429 once counted
    past the threshold; the right secret always passes (a 256-bit secret is not guessed,
    and a lock it could not pass would let anyone lock the client out)."""
    address = own_address()
    with lockout_server(database_url, account_threshold=3, base_lock=60) as live:
        client = make_client(live, redirect_uris=[], scopes=["read"])
        other = make_client(live, redirect_uris=[], scopes=["read"])
        assert client.secret is not None and other.secret is not None
        for _ in range(3):
            refused = token_request(live.base_url, client.client_id, "wrong-secret", address)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "invalid_client"
        row = throttle_row(live, client_key(client.client_id, address))
        assert row is not None and row["failures"] == 3

        # Wrong secrets from there are refused on every endpoint that authenticates clients.
        for path in ("/token", "/introspect", "/revoke"):
            assert_client_locked(
                token_request(live.base_url, client.client_id, "wrong", address, path), 60
            )
        # The right secret passes, from there and from anywhere else.
        for source in (address, None):
            granted = token_request(live.base_url, *client.basic_auth(), source=source)
            assert granted.status_code == 200, granted.text
            assert "access_token" in granted.json()
        # Other clients from the same address are not affected.
        assert token_request(live.base_url, *other.basic_auth(), address).status_code == 200

        # An admin's unlock clears the client's counters from every address.
        assert live.call(lambda s: s.throttle.unlock_client(client.client_id)) == 1
        again = token_request(live.base_url, client.client_id, "wrong", address)
        assert again.status_code == 401, again.text


def test_token_endpoint_locks_an_address_across_clients(database_url: str) -> None:
    address = own_address()
    with lockout_server(database_url, ip_threshold=3, base_lock=60) as live:
        client = make_client(live, redirect_uris=[], scopes=["read"])
        try:
            for name in (unique("ghost"), unique("ghost"), client.client_id):
                refused = token_request(live.base_url, name, "wrong-secret", source=address)
                assert refused.status_code == 401, refused.text
            assert_client_locked(
                token_request(live.base_url, unique("ghost"), "wrong", source=address), 60
            )
            assert_client_locked(
                token_request(live.base_url, client.client_id, "wrong", source=address), 60
            )
            # The login form counts addresses separately from the token endpoint.
            assert throttle_row(live, ip_key(address)) is None
            # The client itself is not locked, from anywhere.
            for source in (address, None):
                assert token_request(live.base_url, *client.basic_auth(), source).status_code == 200
        finally:
            unlock(live, ip_key(address, "token"))


# -- two processes, one database -----------------------------------------------------------


@pytest.fixture
def fresh_postgres(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL database of this test's own, migrated; dropped afterwards."""
    with fresh_database("postgresql", tmp_path) as url:
        yield url


async def _seed(url: str, username: str) -> tuple[RegisteredClient, RegisteredClient]:
    """A user, a browser client and a machine client, written straight to the database."""
    services = build_services(load_settings(database_url=url, secret_key=SECRET_KEY))
    try:
        await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            password_hash=await services.passwords.hash(PASSWORD),
        )
        redirect = "https://app.example.com/callback"
        web_client, web_secret = await register(
            services.store.clients,
            ClientSpec(name="web", redirect_uris=[redirect], grant_types=[], scopes=["read"]),
        )
        machine, machine_secret = await register(
            services.store.clients,
            ClientSpec(name="machine", redirect_uris=[], grant_types=[], scopes=["read"]),
        )
    finally:
        await services.close()
    return (
        RegisteredClient(web_client.client_id, web_secret, redirect),
        RegisteredClient(machine.client_id, machine_secret, None),
    )


async def _db_row(url: str, key: str) -> dict[str, Any] | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(throttles).where(throttles.c.key == key))).first()
        return dict(row._mapping) if row else None
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_lock_is_shared_by_two_server_processes(
    backend: str, fresh_postgres: str, tmp_path: Path
) -> None:
    """Two ``ostiary serve`` processes on one database: failures on either count together,
    and a lock set by one is enforced by the other."""
    username = unique("shared")
    crowd = unique("crowd")
    web_client, machine = asyncio.run(_seed(fresh_postgres, username))
    asyncio.run(_seed_user(fresh_postgres, crowd))
    pool = Servers()
    try:
        nodes = []
        for _ in range(2):
            port = free_port()
            env = clean_env(
                OSTIARY_DATABASE_URL=fresh_postgres,
                OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
                OSTIARY_SECRET_KEY=SECRET_KEY,
                OSTIARY_KEYS__PUBLISH_AHEAD="0",
                OSTIARY_LOCKOUT__ACCOUNT_THRESHOLD="3",
                OSTIARY_LOCKOUT__IP_THRESHOLD=str(HIGH),
                OSTIARY_LOCKOUT__BASE_LOCK="60",
            )
            # One after the other: the first generates the signing keys, the second uses them.
            nodes.append(pool.start(port=port, env=env, cwd=tmp_path).base_url)
        a, b = nodes

        # Login form: failures alternate between the nodes and add up to one lock.
        for node in (a, b, a):
            assert_refused(login(node, web_client, username, "wrong password"))
        row = asyncio.run(_db_row(fresh_postgres, account_key(username)))
        assert row is not None and row["failures"] == 3
        assert row["locked_until"] > clock.now()
        assert_locked(login(b, web_client, username, PASSWORD), minutes=1)
        assert_locked(login(a, web_client, username, PASSWORD), minutes=1)

        # Concurrent failures on both nodes are each counted exactly once.
        with ThreadPoolExecutor(max_workers=8) as executor:
            results = list(
                executor.map(
                    lambda node: login(node, web_client, crowd, "wrong").status_code,
                    [a, b] * 4,
                )
            )
        assert set(results) <= {401, 429}, results
        row = asyncio.run(_db_row(fresh_postgres, account_key(crowd)))
        assert row is not None and row["failures"] == results.count(401) >= 3
        assert_locked(login(a, web_client, crowd, PASSWORD))
        assert_locked(login(b, web_client, crowd, PASSWORD))

        # Token endpoint: two wrong secrets on A, the third on B sets the lock of this
        # client from this address; A, having seen it fail, consults the database and
        # refuses the next wrong secret. The right secret passes on both.
        for node in (a, a, b):
            assert token_request(node, machine.client_id, "wrong").status_code == 401
        assert_client_locked(token_request(a, machine.client_id, "wrong"), 60)
        assert_client_locked(token_request(b, machine.client_id, "wrong"), 60)
        assert token_request(a, *machine.basic_auth()).status_code == 200
        assert token_request(b, *machine.basic_auth()).status_code == 200
    finally:
        pool.stop_all()


async def _seed_user(url: str, username: str) -> None:
    services = build_services(load_settings(database_url=url, secret_key=SECRET_KEY))
    try:
        await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            password_hash=await services.passwords.hash(PASSWORD),
        )
    finally:
        await services.close()
