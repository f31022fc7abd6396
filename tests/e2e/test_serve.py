"""``ostiary serve`` as a real process: start-up, migrations, keys, and demo mode.

Command-line contract: ``ostiary serve [--host] [--port] [--demo]`` migrates the database,
generates signing keys when there are none, creates nothing else outside demo mode, and
refuses to start without OSTIARY_SECRET_KEY. Demo mode on an empty folder uses
``.ostiary/demo.db`` and a generated ``.ostiary/secret_key`` (mode 0600), creates the
user ``demo`` and the public client ``ostiary-demo``, and prints how to sign in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from ostiary.web.demo import DEMO_SCOPES
from tests.conftest import SECRET_KEY, free_port
from tests.e2e.helpers import csrf_of, login_page, query_of
from tests.e2e.processes import DemoCredentials, Servers, clean_env, run_cli

DEMO_SCOPE = " ".join(DEMO_SCOPES)


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def sqlite_env(tmp_path: Path, port: int) -> dict[str, str]:
    """A server's environment: a SQLite file in ``tmp_path``, a loopback http issuer."""
    return clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
        OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
    )


def ostiary(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, *args, cwd=cwd)


def test_serve_migrates_generates_keys_and_creates_nothing_else(
    servers: Servers, tmp_path: Path
) -> None:
    """CLI contract: serve migrates and makes one key per algorithm; no implicit users/clients."""
    port = free_port()
    db = tmp_path / "ostiary.db"
    issuer = f"http://127.0.0.1:{port}"
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        OSTIARY_ISSUER=issuer,
        OSTIARY_SECRET_KEY=SECRET_KEY,
    )
    server = servers.start(port=port, env=env, cwd=tmp_path)

    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        jwks = http.get("/jwks.json").json()
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        demo = http.get("/demo")
    assert sorted(k["alg"] for k in jwks["keys"]) == ["ES256", "EdDSA", "PS256", "RS256"]
    assert all("d" not in k for k in jwks["keys"]), "JWKS must not publish private parts"
    assert metadata["issuer"] == issuer
    assert demo.status_code == 404, "outside demo mode /demo does not exist"

    assert sqlite_rows(db, "SELECT count(*) FROM alembic_version") == [(1,)]
    assert sqlite_rows(db, "SELECT count(*) FROM users") == [(0,)]
    assert sqlite_rows(db, "SELECT count(*) FROM clients") == [(0,)]
    assert "demo mode" not in server.stderr

    # `ostiary keys list` sees the keys the server generated, both signing.
    listed = ostiary(env, tmp_path, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    keys = json.loads(listed.stdout)
    assert {(k["kid"], k["alg"], k["state"]) for k in keys} == {
        (k["kid"], k["alg"], "signing") for k in jwks["keys"]
    }
    server.stop_cleanly()


def test_serve_without_secret_key_exits_1_naming_OSTIARY_SECRET_KEY(tmp_path: Path) -> None:
    env = clean_env(OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}")
    result = ostiary(env, tmp_path, "serve", "--port", str(free_port()))
    assert result.returncode == 1
    assert "OSTIARY_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_serve_refuses_an_http_issuer_on_a_non_loopback_address(tmp_path: Path, host: str) -> None:
    """RFC 9700 §2.6 / RFC 6749 §3.1: TLS for every endpoint; http is for one machine only."""
    db = tmp_path / "ostiary.db"
    env = sqlite_env(tmp_path, 8080)
    result = ostiary(env, tmp_path, "serve", "--host", host, "--port", str(free_port()))
    assert result.returncode == 1
    assert "refusing to serve the http issuer" in result.stderr
    assert "--insecure-http" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()


def test_serve_insecure_http_on_all_interfaces_starts_with_a_warning(
    tmp_path: Path, servers: Servers
) -> None:
    port = free_port()
    env = sqlite_env(tmp_path, port)
    server = servers.start("--host", "0.0.0.0", "--insecure-http", port=port, env=env, cwd=tmp_path)
    assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    server.stop_cleanly()
    assert "WARNING: serving the http issuer" in server.stderr


def test_keys_rotate_before_first_serve_still_leaves_a_signing_key(
    servers: Servers, tmp_path: Path
) -> None:
    """CLI contract: serve generates keys "if none" sign; a started server can issue tokens."""
    port = free_port()
    env = sqlite_env(tmp_path, port)
    assert ostiary(env, tmp_path, "db", "upgrade").returncode == 0
    assert ostiary(env, tmp_path, "keys", "rotate").returncode == 0  # publish_ahead 300 s
    created = ostiary(
        env,
        tmp_path,
        "client",
        "create",
        "--name",
        "svc",
        "--grant-type",
        "client_credentials",
        "--json",
    )
    client = json.loads(created.stdout)
    server = servers.start(port=port, env=env, cwd=tmp_path)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
        )
    assert response.status_code == 200, response.text


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def demo_flow(issuer: str, credentials: DemoCredentials) -> dict[str, Any]:
    """What demo.js does, with httpx: PKCE S256 → login → consent → code → token.

    Returns the token response. On a second run the consent is remembered, so the
    consent page may be skipped.
    """
    redirect_uri = f"{issuer}/demo"
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": credentials.client_id,
        "redirect_uri": redirect_uri,
        "scope": DEMO_SCOPE,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=issuer, timeout=10) as web:
        interaction, page = login_page(web, params)
        login = web.post(
            f"{interaction}/login",
            data={
                "csrf": csrf_of(page.text),
                "username": credentials.username,
                "password": credentials.password,
            },
        )
        assert login.status_code == 303, login.text
        response = login
        if login.headers["location"] == interaction:
            response = web.get(interaction)
        if response.status_code == 200:
            assert 'name="decision"' in response.text, response.text
            assert "demo:read" in response.text and "demo:write" in response.text
            response = web.post(
                f"{interaction}/consent",
                data={"csrf": csrf_of(response.text), "decision": "allow"},
            )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(redirect_uri + "?"), location
        query = query_of(location)
        assert query["state"] == state
        assert query["iss"] == issuer, "RFC 9207 §2: the response names the issuer"

        token = web.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "client_id": credentials.client_id,
                "code": query["code"],
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        assert token.status_code == 200, token.text
        tokens: dict[str, Any] = token.json()
        jwks = KeySet.import_key_set(web.get("/jwks.json").json())
    claims = jwt.decode(tokens["access_token"], jwks).claims
    assert claims["iss"] == issuer
    assert claims["client_id"] == credentials.client_id
    assert set(claims["scope"].split()) == set(DEMO_SCOPE.split())
    assert set(tokens["scope"].split()) == set(DEMO_SCOPE.split())
    assert tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"].startswith("ost_rt_")
    return tokens


def login_status(issuer: str, credentials: DemoCredentials, password: str) -> int:
    """The status of the login form POST with ``password`` (303 ok, 401 refused)."""
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": credentials.client_id,
        "redirect_uri": f"{issuer}/demo",
        "scope": DEMO_SCOPE,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=issuer, timeout=10) as web:
        interaction, page = login_page(web, params)
        return web.post(
            f"{interaction}/login",
            data={
                "csrf": csrf_of(page.text),
                "username": credentials.username,
                "password": password,
            },
        ).status_code


def test_demo_mode_on_empty_folder_serves_a_working_demo_and_restarts_cleanly(
    servers: Servers, tmp_path: Path
) -> None:
    """docs/demo.md with RFC 6749 §4.1 + RFC 7636 (S256) through the demo public client."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = clean_env()
    server = servers.start("--demo", port=port, env=env, cwd=tmp_path)
    first = server.demo_credentials()
    assert first.url == f"{issuer}/demo"
    assert first.username == "demo"
    assert first.client_id == "ostiary-demo"
    assert len(first.password) >= 12
    assert first.password not in server.stdout, "credentials go to stderr"

    state_dir = tmp_path / ".ostiary"
    db = state_dir / "demo.db"
    settings_file = state_dir / "settings.toml"
    assert db.is_file()
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    written = tomllib.loads(settings_file.read_text())
    assert written["database_url"] == "sqlite+aiosqlite:///.ostiary/demo.db"
    assert written["issuer"] == issuer
    assert len(written["secret_key"]) >= 32

    with httpx.Client(base_url=issuer, timeout=10) as http:
        page = http.get(urlsplit(first.url).path)
        jwks_before = http.get("/jwks.json").json()
    assert page.status_code == 200
    assert 'data-client-id="ostiary-demo"' in page.text
    assert f'data-issuer="{issuer}"' in page.text
    assert "Sign in with Ostiary" in page.text

    demo_flow(issuer, first)
    server.stop_cleanly()

    # A second start on the same folder: a new working password, no duplicates, same keys.
    again = servers.start("--demo", port=port, env=env, cwd=tmp_path)
    second = again.demo_credentials()
    assert second.password != first.password
    assert (second.username, second.client_id, second.url) == (
        first.username,
        first.client_id,
        first.url,
    )
    demo_flow(issuer, second)
    assert login_status(issuer, second, first.password) == 401, "the old password is replaced"
    with httpx.Client(base_url=issuer, timeout=10) as http:
        assert http.get("/jwks.json").json() == jwks_before, "restarts keep the same keys"
    again.stop_cleanly()

    assert tomllib.loads(settings_file.read_text())["secret_key"] == written["secret_key"]
    assert sqlite_rows(db, "SELECT username FROM users") == [("demo",)]
    assert sqlite_rows(db, "SELECT client_id FROM clients") == [("ostiary-demo",)]
