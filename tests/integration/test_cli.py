"""The ``ostiary`` command line, run as the real executable against real databases.

Contract (docs/cli.md): every command reads the OSTIARY_* settings and migrates first;
``--json`` prints exactly one JSON document on stdout and messages for people go to
stderr; failures exit with status 1 and say why on stderr. Invalid settings exit 1 with
a message naming the setting.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from ostiary.storage.migrate import MIGRATIONS
from tests.conftest import SECRET_KEY, LiveServer, unique
from tests.databases import backend_of, fresh_database
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    make_client,
    make_user,
    obtain_code,
    pkce_pair,
    redeem_code,
)
from tests.e2e.processes import OSTIARY, clean_env

SECRET_RE = re.compile(r"ost_cs_(?P<random>[A-Za-z0-9_-]{43,})")
ARGON2ID_OWASP = "$argon2id$v=19$m=19456,t=2,p=1$"

Result = subprocess.CompletedProcess[str]


# -- running the executable and reading the database ------------------------------------


def ostiary(env: dict[str, str], *args: str, stdin: str = "") -> Result:
    """Run ``ostiary ARGS``; stdin is always a pipe (never a terminal)."""
    return subprocess.run(
        [str(OSTIARY), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def ostiary_concurrently(env: dict[str, str], *commands: Sequence[str]) -> list[Result]:
    """Independent read-only commands, run side by side to keep the suite fast."""
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda args: ostiary(env, *args), commands))


def ok(result: Result) -> Result:
    assert result.returncode == 0, f"exit {result.returncode}; stderr:\n{result.stderr}"
    return result


def failed(result: Result, *phrases: str) -> None:
    """Contract: exit status 1, nothing on stdout, a readable reason on stderr."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def one_json_document(result: Result) -> Any:
    """``--json``: stdout is exactly one JSON document (json.loads rejects any extra data)."""
    ok(result)
    return json.loads(result.stdout)


def sql(url: str, statement: str, **params: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return [dict(row._mapping) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def table_names(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database on the same backend as ``database_url`` (for SQLite an
    empty file: the commands other than ``db upgrade`` never create one)."""
    with fresh_database(backend_of(database_url), tmp_path, migrated=False) as url:
        yield url


# -- clients ------------------------------------------------------------------------------


def test_client_create_json_confidential_secret_256_bits_stored_only_as_sha256(
    env: dict[str, str], database_url: str
) -> None:
    """RFC 6749 §2.3.1 secret; CLI: one JSON document; repeated --grant-type; --scope."""
    name = unique("web")
    result = ostiary(
        env, "client", "create", "--name", name,
        "--redirect-uri", "https://app.example.com/callback",
        "--redirect-uri", "http://127.0.0.1:9000/callback",
        "--grant-type", "authorization_code",
        "--grant-type", "refresh_token",
        "--grant-type", "client_credentials",
        "--scope", "orders:read orders:write",
        "--json",
    )  # fmt: skip
    doc = one_json_document(result)
    assert doc["client_name"] == name
    assert doc["public"] is False
    assert doc["token_endpoint_auth_method"] == "client_secret_basic"
    assert doc["redirect_uris"] == [
        "https://app.example.com/callback",
        "http://127.0.0.1:9000/callback",
    ]
    assert sorted(doc["grant_types"]) == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert set(doc["scope"].split()) == {"orders:read", "orders:write"}

    secret = doc["client_secret"]
    match = SECRET_RE.fullmatch(secret)
    assert match, f"{secret!r} is not ost_cs_ + >= 43 base64url characters (256 bits)"
    random_part = match["random"]
    raw_secret = base64.urlsafe_b64decode(random_part + "=" * (-len(random_part) % 4))
    assert len(raw_secret) >= 32
    assert secret not in result.stderr, "the secret is shown once, in the JSON document"

    row = sql(database_url, "SELECT * FROM clients WHERE client_id = :id", id=doc["client_id"])
    assert len(row) == 1
    assert bytes(row[0]["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    for stored in sql(database_url, "SELECT * FROM clients"):
        for column, value in stored.items():
            if isinstance(value, (bytes, bytearray, memoryview)):
                blob = bytes(value)
                assert random_part.encode() not in blob, column
                assert raw_secret not in blob, column
            else:
                assert random_part not in str(value), column


def test_client_create_public_has_no_secret_and_auth_method_none(
    env: dict[str, str], database_url: str
) -> None:
    """RFC 6749 §2.1 public client (PKCE, no secret); defaults: authorization_code + refresh."""
    created = ostiary(
        env, "client", "create", "--name", unique("cli"), "--public",
        "--redirect-uri", "http://127.0.0.1/callback", "--json",
    )  # fmt: skip
    doc = one_json_document(created)
    assert "client_secret" not in doc
    assert doc["public"] is True
    assert doc["token_endpoint_auth_method"] == "none"
    assert sorted(doc["grant_types"]) == ["authorization_code", "refresh_token"]
    rows = sql(
        database_url, "SELECT secret_hash FROM clients WHERE client_id = :id", id=doc["client_id"]
    )
    assert rows == [{"secret_hash": None}]

    deleted = one_json_document(ostiary(env, "client", "delete", doc["client_id"], "--json"))
    assert deleted == {"client_id": doc["client_id"], "deleted": True}
    assert (
        sql(database_url, "SELECT 1 FROM clients WHERE client_id = :id", id=doc["client_id"]) == []
    )


@pytest.mark.parametrize(
    ("redirect_uri", "reason"),
    [
        # RFC 9700 §2.6 / RFC 8252 §7.3: plain http only for loopback redirect URIs.
        ("http://app.example.com/callback", "http is only allowed for loopback hosts"),
        # RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment.
        ("https://app.example.com/callback#section", "must not contain a fragment"),
    ],
    ids=["http-non-loopback", "fragment"],
)
def test_client_create_invalid_redirect_uri_exits_1(
    env: dict[str, str], database_url: str, redirect_uri: str, reason: str
) -> None:
    name = unique("bad")
    result = ostiary(
        env, "client", "create", "--name", name, "--redirect-uri", redirect_uri, "--json"
    )
    failed(result, redirect_uri, reason)
    assert sql(database_url, "SELECT 1 FROM clients WHERE name = :name", name=name) == []


def test_client_list_show_delete_plain_and_json_unknown_id_exits_1(env: dict[str, str]) -> None:
    name = unique("svc")
    created = ostiary(
        env, "client", "create", "--name", name,
        "--grant-type", "client_credentials", "--scope", "billing",
    )  # fmt: skip
    ok(created)
    assert created.stdout == "", "without --json, messages for people go to stderr"
    match = re.search(r"created client (\S+)", created.stderr)
    assert match, created.stderr
    client_id = match[1]
    assert SECRET_RE.search(created.stderr), "a confidential client's secret is shown once"

    listed_json, listed, shown_json, shown = ostiary_concurrently(
        env,
        ["client", "list", "--json"],
        ["client", "list"],
        ["client", "show", client_id, "--json"],
        ["client", "show", client_id],
    )
    entries = [c for c in one_json_document(listed_json) if c["client_id"] == client_id]
    assert len(entries) == 1
    assert entries[0]["client_name"] == name
    assert "client_secret" not in entries[0] and "secret_hash" not in entries[0]
    assert client_id in ok(listed).stdout and "CLIENT_ID" in listed.stdout
    shown_doc = one_json_document(shown_json)
    assert shown_doc == entries[0]
    assert shown_doc["grant_types"] == ["client_credentials"]
    assert f"client_id: {client_id}" in ok(shown).stdout
    assert "ost_cs_" not in shown.stdout + listed.stdout + listed_json.stdout

    deleted = ok(ostiary(env, "client", "delete", client_id))
    assert f"deleted client {client_id}" in deleted.stderr
    # The id is now unknown: show and delete both exit 1 and name it.
    for result in ostiary_concurrently(
        env, ["client", "show", client_id, "--json"], ["client", "delete", client_id]
    ):
        failed(result, f"no client {client_id!r}")


# -- users --------------------------------------------------------------------------------


def test_user_create_password_stdin_stores_argon2id_owasp_hash_duplicate_exits_1(
    env: dict[str, str], database_url: str
) -> None:
    username = unique("alice")
    created = ostiary(
        env, "user", "create", "--username", username, "--email", f"{username}@example.com",
        "--password-stdin", "--json",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    doc = one_json_document(created)
    assert doc["username"] == username
    assert doc["email"] == f"{username}@example.com"
    assert doc["has_password"] is True
    assert doc["disabled"] is False
    assert not any("password_hash" in key for key in doc)

    (row,) = sql(database_url, "SELECT * FROM users WHERE username = :u", u=username)
    assert row["id"] == doc["id"]
    stored = row["password_hash"]
    assert stored.startswith(ARGON2ID_OWASP), stored
    assert PasswordHasher().verify(stored, PASSWORD)
    assert all(PASSWORD not in str(value) for value in row.values())

    # The username is unique: a second create exits 1 and adds no row.
    failed(ostiary(env, "user", "create", "--username", username), "already exists")
    assert len(sql(database_url, "SELECT id FROM users WHERE username = :u", u=username)) == 1


def test_user_list_show_and_set_password_from_stdin(env: dict[str, str], database_url: str) -> None:
    """docs/cli.md: set-password reads stdin when it is not a terminal; >= 8 characters."""
    username = unique("carol")
    created = ok(
        ostiary(env, "user", "create", "--username", username, "--password-stdin", stdin=PASSWORD)
    )
    assert created.stdout == "", "without --json, messages for people go to stderr"
    assert f"created user {username}" in created.stderr
    listed_json, shown, unknown = ostiary_concurrently(
        env,
        ["user", "list", "--json"],
        ["user", "show", username],
        ["user", "show", unique("nobody")],
    )
    entries = [u for u in one_json_document(listed_json) if u["username"] == username]
    assert len(entries) == 1
    assert entries[0]["has_password"] is True
    assert f"username: {username}" in ok(shown).stdout
    assert f"id: {entries[0]['id']}" in shown.stdout
    assert "argon2" not in shown.stdout + listed_json.stdout
    failed(unknown, "no user")

    def stored_hash() -> str:
        (row,) = sql(
            database_url, "SELECT password_hash FROM users WHERE username = :u", u=username
        )
        return str(row["password_hash"])

    before = stored_hash()
    failed(ostiary(env, "user", "set-password", username, stdin="short\n"), "at least 12")
    assert stored_hash() == before, "a refused password changes nothing"

    new_password = "a new and longer passphrase"
    result = ok(ostiary(env, "user", "set-password", username, stdin=new_password + "\n"))
    assert f"password set for {username}" in result.stderr
    after = stored_hash()
    assert after != before
    assert after.startswith(ARGON2ID_OWASP)
    assert PasswordHasher().verify(after, new_password)


def test_user_password_the_cli_accepts_can_sign_in(env: dict[str, str], server: LiveServer) -> None:
    """What `user create --password-stdin` accepts, the login form must accept too."""
    username = unique("long")
    password = "x" * 1025
    created = ostiary(
        env, "user", "create", "--username", username, "--password-stdin", stdin=password
    )
    if created.returncode == 1:  # refusing it up front is fine too
        failed(created, "at most 1024")
        return
    ok(created)
    client = make_client(server)
    _, challenge = pkce_pair()
    with browser(server) as web:
        interaction = web.get("/authorize", params=authorize_params(client, challenge))
        location = interaction.headers["location"]
        page = web.get(location)
        login = web.post(
            f"{location}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": password},
        )
    assert login.status_code == 303, "the login form refuses the password the CLI stored"


def signed_in_tokens(server: LiveServer) -> tuple[str, RegisteredClient, dict[str, Any]]:
    """A user who signed in (an SSO session) and got tokens: (username, client, tokens)."""
    username = make_user(server)
    client = make_client(server)
    code, verifier, params = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = redeem_code(http, client, code, verifier, params)
    assert response.status_code == 200, response.text
    return username, client, response.json()


def refresh_and_introspect(
    server: LiveServer, client: RegisteredClient, tokens: dict[str, Any]
) -> tuple[httpx.Response, dict[str, Any]]:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        refreshed = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=client.basic_auth(),
        )
        introspected = http.post(
            "/introspect", data={"token": tokens["access_token"]}, auth=client.basic_auth()
        )
    return refreshed, introspected.json()


SESSIONS_OF = (
    "SELECT count(*) AS n FROM sessions JOIN users ON users.id = sessions.user_id"
    " WHERE users.username = :u"
)


def test_user_disable_ends_sessions_and_refresh_tokens(
    env: dict[str, str], database_url: str, server: LiveServer
) -> None:
    """docs/cli.md: `user disable` ends the user's sessions at once; tokens stop working."""
    username, client, tokens = signed_in_tokens(server)
    (row,) = sql(database_url, SESSIONS_OF, u=username)
    assert row["n"] >= 1, "signing in created an SSO session"

    disabled = one_json_document(ostiary(env, "user", "disable", username, "--json"))
    assert disabled["username"] == username
    assert disabled["disabled"] is True
    assert disabled["sessions_ended"] == row["n"]
    assert sql(database_url, SESSIONS_OF, u=username) == [{"n": 0}]
    (user,) = sql(database_url, "SELECT disabled FROM users WHERE username = :u", u=username)
    assert bool(user["disabled"]) is True

    refreshed, introspected = refresh_and_introspect(server, client, tokens)
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert introspected == {"active": False}


def test_user_disable_ends_tokens_for_good_even_after_enable(
    env: dict[str, str], server: LiveServer
) -> None:
    username, client, tokens = signed_in_tokens(server)
    ok(ostiary(env, "user", "disable", username))
    ok(ostiary(env, "user", "enable", username))
    refreshed, introspected = refresh_and_introspect(server, client, tokens)
    assert refreshed.status_code == 400, refreshed.text
    assert introspected == {"active": False}


# -- keys and schema ----------------------------------------------------------------------

# One key per algorithm a client may pick for its ID tokens (RS256 is the OIDC default).
ALGS = sorted(["ES256", "EdDSA", "PS256", "RS256"])


def test_keys_rotate_publishes_new_key_ahead_while_old_key_still_signs(
    fresh_database_url: str,
) -> None:
    """Key rollover (OpenID Connect Core §10.1.1): a new key is published before it signs."""
    env = clean_env(OSTIARY_DATABASE_URL=fresh_database_url, OSTIARY_SECRET_KEY=SECRET_KEY)
    now = {**env, "OSTIARY_KEYS__PUBLISH_AHEAD": "0"}
    created = ok(ostiary(now, "keys", "rotate"))
    assert created.stdout == "", "migrating the fresh database prints nothing on stdout"
    for alg in ALGS:
        assert f"new {alg} key" in created.stderr
    listed = ok(ostiary(env, "keys", "list")).stdout
    rows = [line.split() for line in listed.splitlines()[1:]]
    assert sorted((row[1], row[2]) for row in rows) == [(alg, "signing") for alg in ALGS]
    old_kids = {row[0] for row in rows}

    ahead = {**env, "OSTIARY_KEYS__PUBLISH_AHEAD": "300"}
    before = int(time.time())
    rotated = one_json_document(ostiary(ahead, "keys", "rotate", "--json"))
    after = int(time.time())
    assert sorted(r["alg"] for r in rotated) == ALGS
    new_kids = {r["kid"] for r in rotated}
    assert not new_kids & old_kids

    keys = {k["kid"]: k for k in one_json_document(ostiary(env, "keys", "list", "--json"))}
    assert set(keys) == old_kids | new_kids
    for kid in new_kids:
        assert keys[kid]["state"] == "published"
        assert before + 300 <= keys[kid]["activates_at"] <= after + 300
    for kid in old_kids:
        old = keys[kid]
        assert old["state"] == "signing"
        successor = next(keys[k] for k in new_kids if keys[k]["alg"] == old["alg"])
        assert old["retired_at"] == successor["activates_at"], "hand-over at activation"


def test_db_upgrade_migrates_to_head_and_is_idempotent(fresh_database_url: str) -> None:
    env = clean_env(OSTIARY_DATABASE_URL=fresh_database_url, OSTIARY_SECRET_KEY=SECRET_KEY)
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()

    first = ok(ostiary(env, "db", "upgrade"))
    assert first.stdout == ""
    assert "latest schema" in first.stderr
    version = "SELECT version_num FROM alembic_version"
    assert sql(fresh_database_url, version) == [{"version_num": head}]
    tables = table_names(fresh_database_url)
    assert {"clients", "users", "signing_keys", "sessions", "refresh_tokens"} <= tables
    sql(
        fresh_database_url,
        "INSERT INTO users (id, username, email, password_hash, disabled, created_at, updated_at)"
        " VALUES (:id, 'kept', NULL, NULL, :no, 1, 1)",
        id=str(uuid.uuid4()),
        no=False,
    )

    ok(ostiary(env, "db", "upgrade"))
    assert sql(fresh_database_url, version) == [{"version_num": head}]
    assert table_names(fresh_database_url) == tables
    assert sql(fresh_database_url, "SELECT username FROM users") == [{"username": "kept"}]


# -- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # RFC 8414 §2: the issuer is an https URL (http only on loopback for development).
        ("OSTIARY_ISSUER", "http://example.com"),
        ("OSTIARY_SECRET_KEY", "too-short-secret"),
        ("OSTIARY_DATABASE_URL", "mysql://x"),
        ("OSTIARY_KEYS__PUBLISH_AHEAD", "-1"),
    ],
)
def test_invalid_setting_exits_1_naming_the_setting(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
    )
    env[variable] = value
    result = ostiary(env, "client", "list")
    failed(result, variable)
    if variable == "OSTIARY_SECRET_KEY":
        assert value not in result.stderr, "the secret key is never echoed"
    assert not (tmp_path / "ostiary.db").exists(), "nothing is touched with invalid settings"
