"""``ostiary dev seed``: bulk rows that the real server accepts, on SQLite and PostgreSQL.

The seeded users sign in with the password shown, the seeded clients authenticate with the
secret shown, and each refresh token written to --tokens-out rotates at the token endpoint
(RFC 6749 §6), exactly as rows made one by one would.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from ostiary.crypto.tokens import digest
from ostiary.storage.engine import create_engine
from ostiary.storage.tables import clients, refresh_tokens, users
from tests.conftest import SECRET_KEY, LiveServer, unique
from tests.e2e.processes import OSTIARY, clean_env

ARGON2ID = "$argon2id$v=19$m=19456,t=2,p=1$"


def seed(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)
    return subprocess.run(
        [str(OSTIARY), "dev", "seed", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rows(database_url: str, statement: Any) -> list[Any]:
    async def fetch() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(fetch())


def test_seed_creates_working_users_clients_and_refresh_tokens(
    database_url: str, server: LiveServer, tmp_path: Path
) -> None:
    prefix = unique("s").replace("-", "_")
    tokens_file = tmp_path / "tokens.txt"
    done = seed(
        database_url,
        *("--users", "25", "--clients", "3", "--refresh-tokens", "40"),
        *("--prefix", prefix, "--tokens-out", str(tokens_file), "--password-stdin", "--json"),
        stdin="a seeded password\n",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["users"] == 25 and summary["clients"] == 3
    assert summary["refresh_tokens"] == 40
    assert summary["password"] == "a seeded password"
    assert tokens_file.stat().st_mode & 0o777 == 0o600

    hashes = rows(
        database_url, select(users.c.password_hash).where(users.c.username.like(f"{prefix}-user-%"))
    )
    assert len(hashes) == 25
    # One Argon2id hash at the configured parameters, computed once and shared.
    assert {h for (h,) in hashes} == {hashes[0][0]}
    assert hashes[0][0].startswith(ARGON2ID)
    assert PasswordHasher().verify(hashes[0][0], "a seeded password")

    client_ids = {f"{prefix}-client-{i}" for i in range(3)}
    stored = rows(
        database_url,
        select(clients.c.client_id, clients.c.secret_hash).where(
            clients.c.client_id.in_(client_ids)
        ),
    )
    assert {c for c, _ in stored} == client_ids
    assert all(h == digest(summary["client_secret"]) for _, h in stored)

    tokens = tokens_file.read_text().split()
    assert len(tokens) == len(set(tokens)) == 40
    owners = rows(
        database_url,
        select(refresh_tokens.c.client_id, func.count())
        .where(refresh_tokens.c.token_hash.in_([digest(t) for t in tokens]))
        .group_by(refresh_tokens.c.client_id),
    )
    assert dict(owners) == {
        c: 40 // 3 + (1 if int(c.rsplit("-", 1)[1]) < 40 % 3 else 0) for c in client_ids
    }

    # The real token endpoint: the seeded client authenticates, the seeded token rotates.
    auth = (f"{prefix}-client-0", summary["client_secret"])
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        issued = http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens[0]}, auth=auth
        )
        assert issued.status_code == 200, issued.text
        assert issued.json()["refresh_token"] != tokens[0]
        again = http.post(
            "/token", data={"grant_type": "refresh_token", "refresh_token": tokens[0]}, auth=auth
        )
        assert again.json()["error"] == "invalid_grant"


def test_seed_twice_without_a_prefix_adds_more_rows(database_url: str) -> None:
    first = json.loads(seed(database_url, "--users", "2", "--json").stdout)
    second = json.loads(seed(database_url, "--users", "2", "--json").stdout)
    assert first["prefix"] != second["prefix"]
    names = rows(database_url, select(users.c.username).where(users.c.username.like("seed-%")))
    assert {f"{p}-user-{i}" for p in (first["prefix"], second["prefix"]) for i in range(2)} <= {
        n for (n,) in names
    }


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--refresh-tokens", "3"], 1, "give --clients 1 or more"),
        (["--users", "-1"], 2, "must be 0 or more"),
        (["--users", "many"], 2, "not a whole number"),
        (["--prefix", "bad prefix!"], 1, "--prefix takes"),
    ],
)
def test_seed_refuses_bad_input_clearly(
    database_url: str, args: list[str], status: int, message: str
) -> None:
    done = seed(database_url, *args)
    assert done.returncode == status
    assert message in done.stderr
    assert "Traceback" not in done.stderr
