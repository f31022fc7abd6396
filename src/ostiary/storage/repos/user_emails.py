"""Which accounts hold an email address: the one comparison every door, password reset
and the unique index (``storage.email_index``) share."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary.domain.users import EmailTaken
from ostiary.storage.tables import users


def same_address(email: str) -> ColumnElement[bool]:
    """``users.email`` is ``email`` in any case, by the database's own lower(), which is
    what the unique index holds (so the two never disagree)."""
    return (func.lower(users.c.email) == func.lower(email)) & users.c.email.is_not(None)


async def holders(
    conn: AsyncConnection, email: str, *, other_than: str | None = None, limit: int = 2
) -> list[str]:
    """Ids of accounts with this address, at most ``limit``, other than ``other_than``."""
    query = select(users.c.id).where(same_address(email))
    if other_than is not None:
        query = query.where(users.c.id != other_than)
    return list((await conn.execute(query.order_by(users.c.id).limit(limit))).scalars())


async def check_free(conn: AsyncConnection, email: str | None, user_id: str | None) -> None:
    """``EmailTaken`` unless the address is free for ``user_id`` (None: a new account).

    An account keeping its own address (in any case) passes even when a row stored before
    the rule shares it: deprovisioning or renaming such an account must still work."""
    if email is None:
        return
    if user_id is not None:
        own = select(users.c.id).where(users.c.id == user_id, same_address(email))
        if (await conn.execute(own)).first() is not None:
            return
    if await holders(conn, email, other_than=user_id, limit=1):
        raise EmailTaken(email)


async def taken_after_conflict(engine: AsyncEngine, email: str | None, user_id: str) -> bool:
    """After a write failed on a unique key: was it the address (held by another account
    now), rather than the username? Asked on a new connection, the failed one being done."""
    if email is None:
        return False
    async with engine.connect() as conn:
        return bool(await holders(conn, email, other_than=user_id, limit=1))
