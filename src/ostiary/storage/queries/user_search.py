"""Finding users for the console: by username, email address or name, in keyset pages.

Every search is a range scan of one btree index, so it costs the same with a thousand
users or a million: a prefix ``p`` is the range ``p <= col < p + MAX``, which SQLite and
PostgreSQL both answer from the index (``LIKE 'p%'`` uses it on neither without a special
operator class or collation, and ``%p%`` never). The indexes:

- usernames: ``scim_users.user_name_ci`` (unique; the RFC 8265 case-mapped form every
  account has), so a search ignores case as sign-in does;
- email addresses: ``ux_users_email_lower`` (unique, on ``lower(email)``);
- names: ``scim_users.display_name_ci``, ``given_name_ci`` and ``family_name_ci``, which
  SCIM provisioning fills. Three ranges cannot share one order, so each gives at most
  ``NAME_CANDIDATES`` users, shown by username; ``capped`` says when there were more.

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
    key = identifiers.username_key(q) if by is SearchBy.USERNAME else q.lower()
    if key is None:
        return Found([], None)  # text no database can hold names nobody
    if by is SearchBy.USERNAME:
        return await _page(
            engine, scim_users.c.user_name_ci, _prefix(scim_users.c.user_name_ci, key), after, limit
        )
    return await _by_name(engine, key, after, limit)


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


async def _by_name(engine: AsyncEngine, key: str, after: str | None, limit: int) -> Found:
    # Each range gives its candidates with their username key (the index's rows are the
    # table's: no join); the page is cut here and only its users are read.
    names = (
        scim_users.c.display_name_ci,
        scim_users.c.given_name_ci,
        scim_users.c.family_name_ci,
    )
    candidates: dict[str, str] = {}
    capped = False
    async with engine.connect() as conn:
        for column in names:
            branch = (
                select(scim_users.c.user_name_ci, scim_users.c.user_id)
                .where(*_prefix(column, key))
                .order_by(column)
                .limit(NAME_CANDIDATES + 1)
            )
            rows = (await conn.execute(branch)).all()
            capped = capped or len(rows) > NAME_CANDIDATES
            candidates.update((r.user_name_ci, r.user_id) for r in rows[:NAME_CANDIDATES])
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
