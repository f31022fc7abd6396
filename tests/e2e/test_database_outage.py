"""Database outages on a private PostgreSQL (tests/e2e/private_postgres.py): stopped, every
surface answers 503 with Retry-After (RFC 9110 §15.6.4, §10.2.3) in its own error shape,
never 500; restarted under token load, no request fails once it is back and no refresh
token family is left with two live tokens or none; and the database errors the server
logs carry no values.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_SCOPE, bootstrap
from tests.conftest import (
    SECRET_KEY,
    LiveServer,
    free_port,
    server_settings,
    start_server,
    unique,
)
from tests.databases import migrate
from tests.e2e.helpers import make_client
from tests.e2e.private_postgres import PrivatePostgres, private_postgres
from tests.e2e.processes import Servers, clean_env
from tests.e2e.processes import cli_json as cli


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def database(pg: PrivatePostgres) -> str:
    async def create() -> None:
        conn = await asyncpg.connect(pg.url(driver="postgresql"))
        try:
            await conn.execute("CREATE DATABASE ostiary")
        finally:
            await conn.close()

    asyncio.run(create())
    url = pg.url("ostiary")
    asyncio.run(migrate(url))
    return url


@pytest.fixture(scope="module")
def live(database: str) -> Iterator[LiveServer]:
    port = free_port()
    server, stop = start_server(server_settings(database, port), port)
    yield server
    stop()


def token_for(live: LiveServer, client_id: str, secret: str, scope: str) -> str:
    response = httpx.post(
        live.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def assert_unavailable(response: httpx.Response, media_type: str) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"].startswith(media_type), response.headers


def test_rfc9110_15_6_4_every_surface_answers_503_while_the_database_is_down(
    pg: PrivatePostgres, live: LiveServer
) -> None:
    client = make_client(
        live, grant_types=["client_credentials"], scopes=["read", "scim"], redirect_uris=[]
    )
    assert client.secret is not None
    auth = (client.client_id, client.secret)
    boot = live.call(lambda s: bootstrap(s, unique("root"), secrets.token_urlsafe(16)))
    admin = token_for(live, boot.client_id, boot.client_secret, ADMIN_SCOPE)
    scim = token_for(live, client.client_id, client.secret, "scim")
    access = token_for(live, client.client_id, client.secret, "read")
    base = live.base_url
    pg.stop("fast")
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            form = {"grant_type": "client_credentials", "scope": "read"}
            # RFC 6749 §5.2 JSON with §4.1.2.1's temporarily_unavailable.
            for path, data in (
                ("/token", form),
                ("/introspect", {"token": "ost_rt_unknown"}),
                ("/revoke", {"token": "ost_rt_unknown"}),
            ):
                response = http.post(path, data=data, auth=auth)
                assert_unavailable(response, "application/json")
                assert response.json()["error"] == "temporarily_unavailable"
                assert response.headers["cache-control"] == "no-store"
            health = http.get("/health")
            assert_unavailable(health, "application/json")
            assert health.json()["status"] == "unavailable"
            assert_unavailable(http.get("/revocations"), "application/json")
            # A page a person reads.
            page = http.get("/authorize", params={"client_id": client.client_id})
            assert_unavailable(page, "text/html")
            assert "temporarily unavailable" in page.text
            # RFC 9457 problem details.
            problem = http.get("/admin/api/v1/users", headers={"Authorization": f"Bearer {admin}"})
            assert_unavailable(problem, "application/problem+json")
            assert problem.json()["status"] == 503
            # RFC 7644 §3.12: the SCIM error's status is the HTTP status.
            error = http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {scim}"})
            assert_unavailable(error, "application/scim+json")
            assert error.json()["status"] == "503"
            assert error.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    finally:
        pg.start()
    with httpx.Client(base_url=base, timeout=30) as http:
        # Back at once: the pool's connections, dead since the stop, are replaced.
        assert http.get("/health").status_code == 200
        assert http.post("/token", data=form, auth=auth).status_code == 200
        response = http.post("/introspect", data={"token": access}, auth=auth)
        assert response.status_code == 200 and response.json()["active"] is True
        problem = http.get("/admin/api/v1/users", headers={"Authorization": f"Bearer {admin}"})
        assert problem.status_code == 200, problem.text


SECRET = "s3cr3t-" + secrets.token_hex(12)
SECRET_PHONE = f"+1 {secrets.randbelow(10**12):012d}"


def test_logged_database_errors_carry_no_values(
    live: LiveServer, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator's unique index and trigger make PostgreSQL quote a value in DETAIL and
    in its message; the server still answers (409, 500) and logs neither. (The index is on
    a column Ostiary itself does not keep unique, so the clash reaches PostgreSQL.)"""
    boot = live.call(lambda s: bootstrap(s, unique("root"), secrets.token_urlsafe(16)))
    admin = token_for(live, boot.client_id, boot.client_secret, ADMIN_SCOPE)
    table = unique("t").replace("-", "_")

    async def operator_rules() -> None:
        conn = await asyncpg.connect(database.replace("+asyncpg", ""))
        try:
            await conn.execute("CREATE UNIQUE INDEX ux_users_phone ON users (phone_number)")
            await conn.execute(f"CREATE TABLE {table} (n INTEGER)")
            await conn.execute(
                "CREATE FUNCTION reject_locale() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN IF NEW.profile::text LIKE '%rejected%' THEN"
                " RAISE EXCEPTION 'rejected profile %', NEW.profile; END IF; RETURN NEW; END $$"
            )
            await conn.execute(
                "CREATE TRIGGER reject_locale BEFORE UPDATE ON users"
                " FOR EACH ROW EXECUTE FUNCTION reject_locale()"
            )
        finally:
            await conn.close()

    async def drop_rules() -> None:
        conn = await asyncpg.connect(database.replace("+asyncpg", ""))
        try:
            await conn.execute("DROP TRIGGER reject_locale ON users")
            await conn.execute("DROP FUNCTION reject_locale()")
            await conn.execute("DROP INDEX ux_users_phone")
            await conn.execute(f"DROP TABLE {table}")
        finally:
            await conn.close()

    asyncio.run(operator_rules())
    caplog.set_level(logging.DEBUG)
    try:
        with httpx.Client(
            base_url=live.base_url + "/admin/api/v1",
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        ) as http:
            first = http.post(
                "/users", json={"username": unique("a"), "phone_number": SECRET_PHONE}
            )
            assert first.status_code == 201, first.text
            other = http.post("/users", json={"username": unique("b")})
            assert other.status_code == 201, other.text
            other_id = other.json()["id"]
            # The unique index's DETAIL: Key (phone_number)=(<the number>) already exists.
            clash = http.patch(f"/users/{other_id}", json={"phone_number": SECRET_PHONE})
            assert clash.status_code == 409, clash.text
            # The trigger's message quotes the row.
            rejected = http.patch(
                f"/users/{other_id}", json={"profile": {"locale": "rejected", "name": SECRET}}
            )
            assert rejected.status_code == 500, rejected.text
            assert SECRET not in rejected.text
    finally:
        asyncio.run(drop_rules())
    # The server logs a 500's traceback after sending the response.
    deadline = time.monotonic() + 10
    while "P0001" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = caplog.text
    assert "sqlstate=23505" in logged and "ux_users_phone" in logged, logged
    assert "sqlstate=P0001" in logged, logged
    assert SECRET not in logged and SECRET_PHONE not in logged


# PostgreSQL restarted under load.

LOAD_WORKERS = 6


@dataclass
class Outcomes:
    statuses: dict[int, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    after_recovery_failures: list[str] = field(default_factory=list)
    rotations: int = 0

    def count(self, response: httpx.Response, recovered: bool) -> None:
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        where = f"{response.request.method} {response.request.url.path}"
        if status == 503:
            if "retry-after" not in response.headers:
                self.bad.append(f"{where}: 503 without Retry-After")
            if recovered:
                self.after_recovery_failures.append(f"{where}: {response.text}")
        elif status != 200:
            self.bad.append(f"{where}: {status} {response.text}")


async def _load(
    base_url: str,
    auth: tuple[str, str],
    tokens: list[str],
    outcomes: Outcomes,
    stop: threading.Event,
    recovered: threading.Event,
) -> list[str]:
    """Each worker rotates its own refresh token family, introspects what it got and asks
    for a client_credentials token; a 503 keeps the old token for the next try."""

    async def worker(i: int, http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            was_recovered = recovered.is_set()
            try:
                rotated = await http.post(
                    "/token",
                    data={"grant_type": "refresh_token", "refresh_token": tokens[i]},
                    auth=auth,
                )
                outcomes.count(rotated, was_recovered)
                if rotated.status_code == 200:
                    tokens[i] = rotated.json()["refresh_token"]
                    outcomes.rotations += 1
                    seen = await http.post("/introspect", data={"token": tokens[i]}, auth=auth)
                    outcomes.count(seen, was_recovered and recovered.is_set())
                    if seen.status_code == 200 and seen.json().get("active") is not True:
                        outcomes.bad.append(f"rotated token {i} not active: {seen.text}")
                machine = await http.post(
                    "/token", data={"grant_type": "client_credentials", "scope": "read"}, auth=auth
                )
                outcomes.count(machine, was_recovered)
            except httpx.TransportError as exc:
                outcomes.bad.append(f"transport error: {exc!r}")
            if outcomes.statuses.get(503):
                await asyncio.sleep(0.02)  # a real client honours Retry-After; be brief

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        await asyncio.gather(*(worker(i, http) for i in range(len(tokens))))
    return tokens


def test_rfc9110_15_6_4_postgres_restart_under_load(
    pg: PrivatePostgres, database: str, tmp_path: Path
) -> None:
    port = free_port()
    env = clean_env(
        OSTIARY_DATABASE_URL=database,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_LOCKOUT__ACCOUNT_THRESHOLD="100000",
        OSTIARY_LOCKOUT__IP_THRESHOLD="100000",
    )
    tokens_file = tmp_path / "tokens.txt"
    seeded = cli(
        env, "dev", "seed", "--users", "1", "--clients", "1",
        "--refresh-tokens", str(LOAD_WORKERS), "--tokens-out", str(tokens_file),
    )  # fmt: skip
    auth = (f"{seeded['prefix']}-client-0", str(seeded["client_secret"]))
    first_tokens = tokens_file.read_text().split()
    assert len(first_tokens) == LOAD_WORKERS
    servers = Servers()
    outcomes = Outcomes()
    stop, recovered = threading.Event(), threading.Event()
    tokens = list(first_tokens)
    try:
        server = servers.start(port=port, env=env, cwd=tmp_path)
        load = threading.Thread(
            target=lambda: asyncio.run(
                _load(server.base_url, auth, tokens, outcomes, stop, recovered)
            ),
            daemon=True,
        )
        load.start()
        time.sleep(1.5)
        before = outcomes.rotations
        assert before > 0 and not outcomes.bad, outcomes
        pg.restart()  # a fast shutdown under load, then a start; returns once it accepts
        recovered.set()
        time.sleep(2.5)
        stop.set()
        load.join(timeout=60)
        assert not load.is_alive()
        if outcomes.bad or outcomes.after_recovery_failures:
            print(server.stderr)  # shown with the failure: what the server logged
        assert not outcomes.bad, outcomes.bad
        # No 500, and once PostgreSQL accepted connections again, no request failed.
        assert set(outcomes.statuses) <= {200, 503}, outcomes.statuses
        assert not outcomes.after_recovery_failures, outcomes.after_recovery_failures
        assert outcomes.rotations > before, "no rotation succeeded after the restart"
        # Nothing lost: each family has exactly one live token, the one its client holds.
        assert asyncio.run(live_per_family(database, auth[0])) == [1] * LOAD_WORKERS
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for token in tokens:
                response = http.post(
                    "/token",
                    data={"grant_type": "refresh_token", "refresh_token": token},
                    auth=auth,
                )
                assert response.status_code == 200, response.text
        stderr = server.stderr
    finally:
        stop.set()
        servers.stop_all()
    assert "Exception in ASGI application" not in stderr, stderr
    assert "Traceback" not in stderr, stderr


async def live_per_family(database: str, client_id: str) -> list[int]:
    conn = await asyncpg.connect(database.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch(
            "SELECT family_id, count(*) FILTER (WHERE used_at IS NULL AND revoked_at IS NULL)"
            " FROM refresh_tokens WHERE client_id = $1 GROUP BY family_id",
            client_id,
        )
    finally:
        await conn.close()
    return [int(r[1]) for r in rows]
