"""The command line fails in one line: what went wrong, where, and nothing left behind.

Contract (docs/cli.md, "Exit status"): a database, settings or network failure is one
``error: ...`` line on stderr and exit status 1; the traceback only with ``--debug``;
commands other than ``serve``, ``db upgrade`` and the development seed never create a
database; run in a project directory after ``serve --demo``, every command uses the demo's
settings.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import SECRET_KEY, free_port
from tests.e2e.processes import Servers, clean_env
from tests.e2e.processes import run_cli as run

Result = subprocess.CompletedProcess[str]
READ_COMMANDS = [
    ("user", "list"),
    ("client", "list"),
    ("keys", "list"),
    ("audit",),
    ("role", "list"),
    ("client", "create", "--name", "web", "--redirect-uri", "https://app.example.com/cb"),
]


def run_each(env: dict[str, str], commands: Sequence[Sequence[str]], cwd: Path) -> list[Result]:
    """Independent commands side by side: each is a new interpreter (about a second)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: run(env, *args, cwd=cwd), commands))


def one_line_error(result: Result, *phrases: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def test_commands_refuse_to_create_a_sqlite_database_that_does_not_exist(tmp_path: Path) -> None:
    """A mistyped path is an error, not a new empty database (nor its directories)."""
    missing = tmp_path / "typo" / "ostiary.db"
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{missing}", OSTIARY_SECRET_KEY=SECRET_KEY
    )
    for result in run_each(env, READ_COMMANDS, tmp_path):
        one_line_error(result, f"no SQLite database at {missing}", "ostiary db upgrade")
        assert result.stdout == ""
    assert list(tmp_path.iterdir()) == [], "nothing created"

    # ``db upgrade`` is the command that creates one; then the others work on it.
    assert run(env, "db", "upgrade").returncode == 0
    assert missing.is_file()
    assert run(env, "user", "list").returncode == 0


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database\n")
    env = clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}",
        OSTIARY_SECRET_KEY=SECRET_KEY,
    )
    one_line_error(run(env, "user", "list"), "notes.db is not a SQLite database file")
    assert (tmp_path / "notes.db").read_text() == "not a database\n"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql+asyncpg://postgres@127.0.0.1:{free}/ostiary",
            "cannot connect to PostgreSQL at 127.0.0.1:{free}: connection refused",
            id="nothing-listening",
        ),
        pytest.param(
            "postgresql+asyncpg://no_such_role@127.0.0.1:5432/postgres",
            'PostgreSQL at 127.0.0.1:5432 refused the login: role "no_such_role" does not exist',
            id="wrong-role",
        ),
        pytest.param(
            "postgresql+asyncpg://postgres@127.0.0.1:5432/ostiary_no_such_database",
            "database 'ostiary_no_such_database' does not exist (create it: createdb",
            id="missing-database",
        ),
    ],
)
def test_postgresql_failures_are_one_line_for_every_command(
    tmp_path: Path, url: str, expected: str
) -> None:
    free = free_port()
    env = clean_env(
        OSTIARY_DATABASE_URL=url.format(free=free),
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_ISSUER=f"http://127.0.0.1:{free_port()}",
    )
    commands = [("user", "list"), ("db", "upgrade"), ("serve", "--port", str(free_port()))]
    for result in run_each(env, commands, tmp_path):
        line = one_line_error(result, expected.format(free=free))
        assert "Traceback" not in result.stderr
        assert SECRET_KEY not in line


def test_debug_adds_the_traceback_in_any_position(tmp_path: Path) -> None:
    env = clean_env(
        OSTIARY_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x",
        OSTIARY_SECRET_KEY=SECRET_KEY,
    )
    for result in run_each(
        env, [("--debug", "user", "list"), ("user", "list", "--debug")], tmp_path
    ):
        assert result.returncode == 1
        assert result.stderr.startswith("error: cannot connect to PostgreSQL")
        assert "Traceback (most recent call last)" in result.stderr
        assert "ConnectionRefusedError" in result.stderr


def test_missing_secret_key_and_invalid_settings_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}"
    no_key = run(clean_env(OSTIARY_DATABASE_URL=db), "serve", "--port", str(free_port()))
    one_line_error(no_key, "OSTIARY_SECRET_KEY is not set")
    bad_url = run(clean_env(OSTIARY_DATABASE_URL="mysql://x/y"), "user", "list")
    one_line_error(bad_url, "OSTIARY_DATABASE_URL")
    assert not (tmp_path / "ostiary.db").exists()


def test_a_different_secret_key_is_named_not_a_traceback(tmp_path: Path) -> None:
    """The signing keys are sealed under OSTIARY_SECRET_KEY: another key cannot open them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}"
    first = clean_env(OSTIARY_DATABASE_URL=url, OSTIARY_SECRET_KEY=SECRET_KEY)
    assert run(first, "db", "upgrade").returncode == 0
    assert run(first, "keys", "rotate").returncode == 0
    other = {**first, "OSTIARY_SECRET_KEY": "another-secret-key-" + "y" * 32}
    result = run(other, "serve", "--port", str(free_port()), cwd=tmp_path)
    one_line_error(result, "OSTIARY_SECRET_KEY is not the key they were sealed with")


def test_serve_on_a_busy_port_fails_before_touching_the_database(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = clean_env(
            OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
            OSTIARY_SECRET_KEY=SECRET_KEY,
            OSTIARY_ISSUER=f"http://127.0.0.1:{port}",
        )
        result = run(env, "serve", "--port", str(port), cwd=tmp_path)
    one_line_error(result, f"cannot listen on 127.0.0.1:{port}: the port is in use", "--port")
    assert list(tmp_path.iterdir()) == [], "no database created, no key generated"


def test_commands_in_the_demo_directory_use_the_demo_settings(
    servers: Servers, tmp_path: Path
) -> None:
    """After ``serve --demo``, ``ostiary client create`` in the same directory registers the
    client in the demo's database (no secret key to export, no second database); a second
    demo on the busy port fails before it resets the running demo's password."""
    port = free_port()
    env = clean_env()
    demo = servers.start("--demo", port=port, env=env, cwd=tmp_path)
    credentials = demo.demo_credentials()
    demo_db = tmp_path / ".ostiary" / "demo.db"
    settings_file = tmp_path / ".ostiary" / "settings.toml"

    created = run(
        env,
        "client",
        "create",
        "--name",
        "My app",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:5000/callback",
        "--json",
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert "using settings from .ostiary/settings.toml" in created.stderr
    assert not (tmp_path / "ostiary.db").exists(), "no second database"
    with sqlite3.connect(demo_db) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM clients")}
        hash_before = conn.execute("SELECT password_hash FROM users").fetchall()
    assert "My app" in names

    settings_before = settings_file.read_text()
    again = run(env, "serve", "--demo", "--port", str(port), cwd=tmp_path)
    one_line_error(again, f"cannot listen on 127.0.0.1:{port}: the port is in use")
    with sqlite3.connect(demo_db) as conn:
        assert conn.execute("SELECT password_hash FROM users").fetchall() == hash_before
    assert settings_file.read_text() == settings_before

    # Another file chosen explicitly wins over the project's.
    other = tmp_path / "other.toml"
    other.write_text(f'database_url = "sqlite+aiosqlite:///{tmp_path / "nope.db"}"\n')
    chosen = run({**env, "OSTIARY_CONFIG": str(other)}, "user", "list", cwd=tmp_path)
    one_line_error(chosen, "no SQLite database at")
    assert credentials.username == "demo"
