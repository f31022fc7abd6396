"""The unique index on users' email addresses, compared case-insensitively.

Password reset and federation find accounts by address, so one address must name one
account. Every door checks before it writes (``repos.user_emails``); the index is the
backstop against two writes racing. A database that already holds two accounts with one
address cannot take the index: it is then left out, each such group is reported as a
warning, and ``ensure`` tries again after every upgrade (every command migrates first), so
the index appears by itself once an operator has given each account its own address
(``ostiary user list --duplicate-emails`` lists them). An upgrade never fails over it: a
failed upgrade would lock the operator out of the very commands that fix the rows.

``lower()`` is the database's own: ASCII letters on SQLite, the collation's case mapping on
PostgreSQL. The doors compare with the same function, so they agree with the index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from ostiary.storage.tables import users, users_email_index

log = logging.getLogger("ostiary.storage")

# How many groups one warning lists; the command lists them all.
MAX_REPORTED = 20


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Accounts sharing one address: (user id, username, address as stored) each."""

    address: str
    accounts: tuple[tuple[str, str, str], ...]


def duplicate_groups(conn: Connection) -> list[DuplicateGroup]:
    """Every address held by more than one account, ordered by address."""
    key = func.lower(users.c.email)
    shared = (
        select(key.label("key"))
        .where(users.c.email.is_not(None))
        .group_by(key)
        .having(func.count() > 1)
        .subquery()
    )
    rows = conn.execute(
        select(shared.c.key, users.c.id, users.c.username, users.c.email)
        .join(shared, key == shared.c.key)
        .order_by(shared.c.key, users.c.username)
    ).all()
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for row in rows:
        groups.setdefault(row.key, []).append((row.id, row.username, row.email))
    return [DuplicateGroup(address, tuple(found)) for address, found in groups.items()]


def has_index(conn: Connection) -> bool:
    # Not the inspector's get_indexes: SQLAlchemy cannot reflect an expression index on
    # SQLite (it warns and skips it), so the catalogue is asked by name.
    if conn.dialect.name == "sqlite":
        found = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :name"),
            {"name": users_email_index.name},
        ).first()
        return found is not None
    return users_email_index.name in {i["name"] for i in inspect(conn).get_indexes("users")}


def ensure(conn: Connection) -> list[DuplicateGroup]:
    """Create the index unless an address is shared; return (and log) the groups that
    keep it out. Run inside the caller's transaction."""
    if has_index(conn):
        return []
    if conn.dialect.name == "postgresql":
        # No write between the check and the index (CREATE INDEX takes this lock anyway).
        conn.execute(text("LOCK TABLE users IN SHARE MODE"))
    groups = duplicate_groups(conn)
    if not groups:
        try:
            users_email_index.create(conn)
        except IntegrityError:
            # SQLite: a write slipped in since the check; the statement alone failed.
            groups = duplicate_groups(conn)
        else:
            log.info("unique index on users' email addresses created")
            return []
    report(groups)
    return groups


# What this process reported already: migration 0010 and the check after the upgrade
# run back to back, and the operator needs to read each group once.
_reported: set[frozenset[str]] = set()


def report(groups: list[DuplicateGroup]) -> None:
    """One warning per group: usernames and ids, never the address itself."""
    seen = frozenset(user_id for group in groups for user_id, _, _ in group.accounts)
    if seen in _reported:
        return
    _reported.add(seen)
    for group in groups[:MAX_REPORTED]:
        names = ", ".join(f"{username} ({user_id})" for user_id, username, _ in group.accounts)
        log.warning("accounts sharing one email address: %s", names)
    if len(groups) > MAX_REPORTED:
        log.warning("... and %d more groups", len(groups) - MAX_REPORTED)
    if groups:
        log.warning(
            "%d email address(es) belong to more than one account: password reset by email "
            "sends nothing for them, and email addresses are not unique in the database "
            "until each has one account; `ostiary user list --duplicate-emails` lists them",
            len(groups),
        )
