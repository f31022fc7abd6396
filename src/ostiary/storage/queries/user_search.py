"""Finding users for the console: by username, email address or name, in keyset pages.

Every search is a range scan of one btree index, so it costs the same with a thousand
users or a million: a prefix ``p`` is the range ``p <= col < p + MAX``, which SQLite and
PostgreSQL both answer from the index (``LIKE 'p%'`` uses it on neither without a special
operator class or collation, and ``%p%`` never). The indexes:

- usernames: ``scim_users.user_name_ci`` (unique; the RFC 8265 case-mapped form every
  account has), so a search ignores case as sign-in does;
- email addresses: ``ux_users_email_lower`` (unique, on ``lower(email)``);
- names: ``scim_users.display_name_ci``, ``given_name_ci`` and ``family_name_ci``, which
  SCIM provisioning fills, and ``ix_users_profile_{name,given_name,family_name}_lower``
  on the profile's names, which every other door writes (the admin API, the console,
  the CLI, federation, the account pages). Six ranges cannot share one order, so each
  gives at most ``NAME_CANDIDATES`` users, shown by username; ``capped`` says when there
  were more. A profile range lowers with the database's ``lower()`` (ASCII only on
  SQLite), so a query with other capitals is also looked up as typed with only its ASCII
  letters lowered: "Émile" finds "Émile" there, as "émile" does on PostgreSQL.

A matched row is checked again with ``substr`` so a collation that orders text
differently from code points can add no false match.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.domain import identifiers
from ostiary.domain.audit import AuditEvent
from ostiary.domain.users import User
from ostiary.storage.profile_names import NAME_KEYS, lower_profile_name
from ostiary.storage.tables import audit_events, scim_users, users

# Above every code point, so in UTF-8 byte order (SQLite's binary collation, PostgreSQL's
# "C") above every string that starts with the prefix. U+FFFF would miss astral ones.
_ABOVE = "\U0010ffff"
NAME_CANDIDATES = 500
MAX_QUERY = 150


class SearchBy(enum.StrEnum):
    USERNAME = "username"
    EMAIL = "email"
    NAME = "name"


@dataclass(frozen=True, slots=True)
class Found:
    users: list[User]
    # What the next page starts after (None: this is the last page).
    next_after: str | None
    # A name search left candidates out: more names matched than NAME_CANDIDATES.
    capped: bool = False


async def search(
    engine: AsyncEngine, q: str, by: SearchBy, *, after: str | None, limit: int
) -> Found:
    """Users whose ``by`` starts with ``q`` (all users, by username, when ``q`` is empty),
    ``limit`` at a time, after the key ``after`` a previous page returned."""
    q = q.strip()[:MAX_QUERY]
    if "\x00" in q or (after is not None and "\x00" in after):
        return Found([], None)  # PostgreSQL cannot compare text holding NUL: no match
    if not q:
        return await _page(engine, users.c.username, [], after, limit)
    if by is SearchBy.EMAIL:
        column = func.lower(users.c.email)
        # The index is partial (WHERE email IS NOT NULL): say so, so the planner uses it.
        where = [users.c.email.is_not(None), *_prefix(column, q.lower())]
        return await _page(engine, column, where, after, limit)
    if by is SearchBy.NAME:
        return await _by_name(engine, q, after, limit)
    key = identifiers.username_key(q)
    if key is None:
        return Found([], None)  # text no database can hold names nobody
    return await _page(
        engine, scim_users.c.user_name_ci, _prefix(scim_users.c.user_name_ci, key), after, limit
    )


def _prefix(column: Any, key: str) -> list[ColumnElement[bool]]:
    return [column >= key, column < key + _ABOVE, func.substr(column, 1, len(key)) == key]


def _select(order: Any) -> Select[Any]:
    return select(users, order.label("sort_key")).join(
        scim_users, scim_users.c.user_id == users.c.id
    )


async def _page(
    engine: AsyncEngine,
    order: Any,
    where: list[ColumnElement[bool]],
    after: str | None,
    limit: int,
) -> Found:
    # Every order is a unique column, so "after the last key" is an exact keyset page.
    stmt = _select(order).where(*where).order_by(order).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(order > after)
    async with engine.connect() as conn:
        rows = list((await conn.execute(stmt)).all())
    return _found(rows, limit)


def name_ranges(q: str) -> list[Select[Any]]:
    """The candidate queries of a name search for ``q``: each one index's range, in that
    index's order, giving the username key and id of up to NAME_CANDIDATES + 1 users."""
    key = q.lower()
    scim = [
        _candidates(column, key, scim_users)
        for column in (
            scim_users.c.display_name_ci,
            scim_users.c.given_name_ci,
            scim_users.c.family_name_ci,
        )
    ]
    # SQLite's lower() leaves other letters as they are: look those up as typed too.
    keys = dict.fromkeys([key, "".join(c.lower() if c.isascii() else c for c in q)])
    joined = users.join(scim_users, scim_users.c.user_id == users.c.id)
    profile = [
        _candidates(lower_profile_name(users.c.profile, name), each, joined)
        for name in NAME_KEYS
        for each in keys
    ]
    return scim + profile


def _candidates(column: Any, key: str, source: Any) -> Select[Any]:
    # The range alone, in index order, up to the cap: the planner reads the index and
    # stops. With the substr check beside the range it guesses that few rows pass it, and
    # reads and sorts the whole range instead (tens of thousands of rows for one letter);
    # so the check is made on what the range gave, and said, not filtered.
    ranged = (
        select(scim_users.c.user_name_ci, scim_users.c.user_id, column.label("name_key"))
        .select_from(source)
        .where(column >= key, column < key + _ABOVE)
        .order_by(column)
        .limit(NAME_CANDIDATES + 1)
        .subquery()
    )
    matches = func.substr(ranged.c.name_key, 1, len(key)) == key
    return select(ranged.c.user_name_ci, ranged.c.user_id, matches.label("matches"))


async def _by_name(engine: AsyncEngine, q: str, after: str | None, limit: int) -> Found:
    # Each range gives its candidates with their username key (a SCIM range reads the
    # index's own table; a profile range one primary-key lookup per candidate); the page
    # is cut here and only its users are read.
    candidates: dict[str, str] = {}
    capped = False
    async with engine.connect() as conn:
        for branch in name_ranges(q):
            rows = (await conn.execute(branch)).all()
            capped = capped or len(rows) > NAME_CANDIDATES
            candidates.update(
                (r.user_name_ci, r.user_id) for r in rows[:NAME_CANDIDATES] if r.matches
            )
        keys = sorted(k for k in candidates if after is None or k > after)[: limit + 1]
        if not keys:
            return Found([], None, capped)
        order = scim_users.c.user_name_ci
        chosen = [candidates[k] for k in keys]
        stmt = _select(order).where(users.c.id.in_(chosen)).order_by(order)
        rows = list((await conn.execute(stmt)).all())
    result = _found(rows, limit)
    return Found(result.users, result.next_after, capped)


def _found(rows: list[Any], limit: int) -> Found:
    shown = rows[:limit]
    found = [User(**{n: r._mapping[n] for n in User.__dataclass_fields__}) for r in shown]
    next_after = shown[-1].sort_key if len(rows) > limit and shown else None
    return Found(found, next_after)


async def recent_events(engine: AsyncEngine, user_id: str, limit: int) -> list[AuditEvent]:
    """The user's newest audit events, newest first (``ix_audit_events_user_id_at``)."""
    stmt = (
        select(audit_events)
        .where(audit_events.c.user_id == user_id)
        .order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    fields = AuditEvent.__dataclass_fields__
    return [AuditEvent(**{k: v for k, v in r._mapping.items() if k in fields}) for r in rows]
