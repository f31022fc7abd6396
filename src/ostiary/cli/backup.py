"""ostiary backup PATH: a consistent copy of the database, safe while ``serve`` runs.

SQLite: SQLite's online backup API copies the pages in one read transaction, so the copy
is the database as of one moment even while servers write (WAL readers do not block
writers). PostgreSQL: ``pg_dump`` is the tool; this runs it with the connection settings
of OSTIARY_DATABASE_URL, the password passed in the environment, never on the command line.

The copy holds the signing keys and upstream client secrets encrypted under
OSTIARY_SECRET_KEY, which is not in it: keep the key in a separate, safe place.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from ostiary.cli.output import CommandError, reply, say
from ostiary.settings import load_settings

KEY_REMINDER = (
    "keep OSTIARY_SECRET_KEY apart from this backup: without it the signing keys and "
    "upstream client secrets in it cannot be decrypted"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "backup",
        help="copy the database to PATH while it runs (SQLite online backup, or pg_dump)",
    )
    parser.add_argument("path", type=Path, help="the backup file to write (must not exist)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=backup)


def backup(args: argparse.Namespace) -> None:
    url = make_url(load_settings().database_url)
    target: Path = args.path
    if target.exists():
        raise CommandError(f"{target} exists: give a new file name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise CommandError(f"no directory {target.parent} to write the backup in")
    if url.get_backend_name() == "sqlite":
        report = backup_sqlite(url, target)
    else:
        report = backup_postgresql(url, target)
    reply(args.json, report, f"wrote {target} ({report['bytes']} bytes) from {report['source']}")
    say(KEY_REMINDER)


def backup_sqlite(url: URL, target: Path) -> dict[str, object]:
    """sqlite3.Connection.backup into a temporary file beside the target, checked, then
    renamed into place: a file at ``target`` is always a whole backup."""
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        raise CommandError("an in-memory SQLite database has nothing to back up")
    source = Path(url.database)
    if not source.is_file():
        raise CommandError(f"no SQLite database at {source}: nothing to back up")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # mode=rw: never creates a database where the settings point at none.
        with (
            closing(
                sqlite3.connect(f"file:{quote(str(source))}?mode=rw", uri=True, timeout=30)
            ) as src,
            closing(sqlite3.connect(partial)) as copy,
        ):
            src.backup(copy)
            # One self-contained file, no -wal beside it; the server turns WAL on again.
            copy.execute("PRAGMA journal_mode=DELETE")
            verdict = copy.execute("PRAGMA integrity_check").fetchone()[0]
            revision = _revision(copy)
        if verdict != "ok":
            raise CommandError(f"the copy of {source} failed its integrity check: {verdict}")
        os.chmod(partial, 0o600)  # password hashes and sealed keys: the owner's only
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise CommandError(f"cannot back up SQLite database {source}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return {
        "backend": "sqlite",
        "source": str(source),
        "path": str(target),
        "bytes": target.stat().st_size,
        "revision": revision,
    }


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def pg_dump_command(url: URL, target: Path) -> list[str]:
    """The pg_dump command for this database, in the custom format pg_restore reads.
    Never holds the password (see ``pg_environment``)."""
    command = ["pg_dump", "--format=custom", f"--file={target}"]
    if url.host:
        command.append(f"--host={url.host}")
    if url.port:
        command.append(f"--port={url.port}")
    if url.username:
        command.append(f"--username={url.username}")
    command.append(f"--dbname={url.database or url.username or 'postgres'}")
    return command


def pg_environment(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = ssl
    return env


def backup_postgresql(url: URL, target: Path) -> dict[str, object]:
    command = pg_dump_command(url, target)
    shown = shlex.join(command)
    if shutil.which("pg_dump") is None:
        raise CommandError(
            f"pg_dump is not installed here: run `{shown}` where the PostgreSQL client tools "
            "are (with the password in PGPASSWORD or ~/.pgpass)"
        )
    # The program is pg_dump and its arguments come from the operator's own settings.
    done = subprocess.run(  # noqa: S603
        command,
        env=pg_environment(url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CommandError(f"pg_dump failed: {last}")
    say(f"ran: {shown}")
    return {
        "backend": "postgresql",
        "source": f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}",
        "path": str(target),
        "bytes": target.stat().st_size,
        "command": command,
    }
