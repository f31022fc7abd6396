"""The restore drill of docs/operations.md, for real: while ``ostiary serve`` runs and has
issued tokens, ``ostiary backup`` copies the database (SQLite online backup API, or
pg_dump); the original is lost; the copy is restored into a fresh location and a new
server on it, with the same OSTIARY_SECRET_KEY, still accepts the earlier tokens: the
access token introspects as active and its signature verifies against the restored JWKS,
and the refresh token still works.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import SECRET_KEY, free_port
from tests.databases import pg_admin
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    login_and_consent,
    pkce_pair,
    query_of,
    redeem_code,
)
from tests.e2e.processes import OSTIARY, Servers, clean_env

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/"
PG_TOOLS = ["--host=127.0.0.1", "--port=5432", "--username=postgres"]


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(OSTIARY), *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def pg_names() -> Iterator[list[str]]:
    """PostgreSQL databases a test makes; dropped at the end."""
    names: list[str] = []
    yield names
    for name in names:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_env(url: str, port: int) -> dict[str, str]:
    return clean_env(
        OSTIARY_DATABASE_URL=url,
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_KEYS__PUBLISH_AHEAD="0",
    )


def issue_tokens(base_url: str, client: RegisteredClient, username: str) -> dict[str, str]:
    """The authorization code flow in a browser, then the code redeemed (RFC 6749 §4.1)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="read")
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as web:
        response = login_and_consent(web, params, username)
        assert response.status_code == 303, response.text
        code = query_of(response.headers["location"])["code"]
        tokens = redeem_code(web, client, code, verifier, params)
    assert tokens.status_code == 200, tokens.text
    body: dict[str, str] = tokens.json()
    assert body.get("refresh_token"), body
    return body


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_restore_drill_tokens_issued_before_the_backup_still_work(
    backend: str, tmp_path: Path, servers: Servers, pg_names: list[str]
) -> None:
    port = free_port()
    if backend == "sqlite":
        live = tmp_path / "live" / "ostiary.db"
        live.parent.mkdir()
        url = f"sqlite+aiosqlite:///{live}"
    else:
        pg_names.append(f"ostiary_test_{uuid.uuid4().hex[:12]}")
        asyncio.run(pg_admin(f'CREATE DATABASE "{pg_names[-1]}"'))
        url = PG + pg_names[-1]
    env = server_env(url, port)
    cli(env, "db", "upgrade")
    created = json.loads(
        cli(
            env, "client", "create", "--name", "drill", "--redirect-uri",
            "http://127.0.0.1:9/cb", "--scope", "read", "--json",
        ).stdout
    )  # fmt: skip
    client = RegisteredClient(
        created["client_id"], created["client_secret"], "http://127.0.0.1:9/cb"
    )
    cli(env, "user", "create", "--username", "drill", "--password-stdin", stdin=PASSWORD + "\n")

    server = servers.start(port=port, env=env, cwd=tmp_path)
    tokens = issue_tokens(server.base_url, client, "drill")
    backup = tmp_path / ("ostiary-backup.db" if backend == "sqlite" else "ostiary.dump")
    # The server keeps answering (and writing: each token request is audited) meanwhile.
    stop = threading.Event()
    answered: list[int] = []

    def traffic() -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            while not stop.is_set():
                answered.append(http.get("/.well-known/openid-configuration").status_code)

    busy = threading.Thread(target=traffic)
    busy.start()
    try:
        done = cli(env, "backup", str(backup), "--json")
    finally:
        stop.set()
        busy.join()
    report = json.loads(done.stdout)
    assert report["path"] == str(backup) and report["bytes"] > 0
    assert "OSTIARY_SECRET_KEY" in done.stderr
    assert answered and set(answered) == {200}
    server.stop_cleanly()

    # Disaster: the original is gone. Restore the copy into a fresh location.
    if backend == "sqlite":
        shutil.rmtree(live.parent)
        with closing(sqlite3.connect(backup)) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        restored = tmp_path / "restored" / "ostiary.db"
        restored.parent.mkdir()
        shutil.copyfile(backup, restored)
        url = f"sqlite+aiosqlite:///{restored}"
    else:
        asyncio.run(pg_admin(f'DROP DATABASE "{pg_names[-1]}" WITH (FORCE)'))
        pg_names.append(f"ostiary_test_{uuid.uuid4().hex[:12]}")
        subprocess.run(["createdb", *PG_TOOLS, pg_names[-1]], check=True, timeout=60)
        subprocess.run(
            ["pg_restore", *PG_TOOLS, "--no-owner", f"--dbname={pg_names[-1]}", str(backup)],
            check=True,
            timeout=120,
        )
        url = PG + pg_names[-1]

    server = servers.start(port=port, env=server_env(url, port), cwd=tmp_path)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        # RFC 7662 §2.2: the access token issued before the backup is active.
        info = http.post(
            "/introspect", data={"token": tokens["access_token"]}, auth=client.basic_auth()
        )
        assert info.status_code == 200 and info.json()["active"] is True, info.text
        assert info.json()["client_id"] == client.client_id
        # Its signature verifies against the keys the restored server publishes.
        jwks_uri = http.get("/.well-known/openid-configuration").json()["jwks_uri"]
        claims = jwt.decode(
            tokens["access_token"], KeySet.import_key_set(http.get(jwks_uri).json())
        )
        assert claims.claims["client_id"] == client.client_id
        # RFC 6749 §6: the refresh token still works, and rotates.
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=client.basic_auth(),
        )
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


def test_backup_never_overwrites_and_never_creates_a_database(tmp_path: Path) -> None:
    """A backup is a new file; a mistyped database path is an error, not an empty copy."""
    missing = tmp_path / "nowhere" / "ostiary.db"
    env = server_env(f"sqlite+aiosqlite:///{missing}", 8080)
    existing = tmp_path / "taken.db"
    existing.write_bytes(b"keep me")
    for target, phrase in ((existing, "exists"), (tmp_path / "new.db", "no SQLite database")):
        done = subprocess.run(
            [str(OSTIARY), "backup", str(target)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1 and done.stdout == "", done
        assert phrase in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert existing.read_bytes() == b"keep me"
    assert not missing.parent.exists()
    assert not (tmp_path / "new.db").exists()


def test_without_pg_dump_backup_says_the_command_to_run_without_the_password(
    tmp_path: Path,
) -> None:
    url = "postgresql+asyncpg://ostiary:s3cret-pw@db.internal:6543/identity"
    env = server_env(url, 8080)
    env["PATH"] = str(OSTIARY.parent)  # the venv only: no PostgreSQL client tools
    done = subprocess.run(
        [str(OSTIARY), "backup", str(tmp_path / "o.dump")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and done.stdout == "", done
    assert "pg_dump is not installed" in done.stderr
    assert (
        f"pg_dump --format=custom --file={tmp_path / 'o.dump'} --host=db.internal --port=6543 "
        "--username=ostiary --dbname=identity"
    ) in done.stderr
    assert "s3cret-pw" not in done.stderr
