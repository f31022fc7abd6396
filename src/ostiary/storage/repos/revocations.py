"""Deny list of JWT access-token ids, kept until the token would have expired (RFC 7009).

Each newly denied id is also appended to the revocation feed (``revocation_events``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.revocation import RevocationEvent
from ostiary.domain.tokens import AccessTokenBrief, AccessTokenState
from ostiary.storage.repos._driver import Driver
from ostiary.storage.repos.revocation_events import insert_events
from ostiary.storage.repos.users import USER_COLUMNS, user_from_driver
from ostiary.storage.tables import revoked_tokens

# The deny list, the user and the session in one round trip, not three. USER_COLUMNS is
# a constant; every value is a bound parameter.
_ACCESS_STATE = f"""
SELECT (SELECT 1 FROM revoked_tokens r WHERE r.jti = $1), {USER_COLUMNS},
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = $3)
FROM (SELECT 1 AS one) AS x LEFT JOIN users u ON u.id = $2
"""  # noqa: S608


_ACCESS_BRIEF = """
SELECT (SELECT 1 FROM revoked_tokens r WHERE r.jti = $1), u.username, u.disabled,
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = $3)
FROM (SELECT 1 AS one) AS x LEFT JOIN users u ON u.id = $2
"""


class RevocationRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

    async def revoke(self, entries: Iterable[tuple[str, int]]) -> None:
        rows = [{"jti": jti, "expires_at": exp, "revoked_at": clock.now()} for jti, exp in entries]
        if not rows:
            return
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(revoked_tokens)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(revoked_tokens.c.jti, revoked_tokens.c.expires_at)
        )
        async with self._engine.begin() as conn:
            added = (await conn.execute(stmt)).all()
            # The feed tells resource servers once per token id, in the same transaction
            # so a denied id is never missing from it.
            now = clock.now()
            await insert_events(
                conn, [RevocationEvent("jti", r.jti, now, r.expires_at) for r in added]
            )

    async def access_state(
        self, jti: str, user_id: str | None, sid: str | None
    ) -> AccessTokenState:
        row = await self._driver.fetchrow(_ACCESS_STATE, jti, user_id, sid)
        assert row is not None  # one row, always
        user = user_from_driver(row[1:12]) if row[1] is not None else None
        return AccessTokenState(row[0] is not None, user, row[12])

    async def access_brief(
        self, jti: str, user_id: str | None, sid: str | None
    ) -> AccessTokenBrief:
        """As ``access_state``, reading of the user only its name and whether it is
        disabled (introspection needs no more)."""
        row = await self._driver.fetchrow(_ACCESS_BRIEF, jti, user_id, sid)
        assert row is not None  # one row, always
        return AccessTokenBrief(row[0] is not None, row[1], bool(row[2]), row[3])

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(revoked_tokens).where(revoked_tokens.c.expires_at < clock.now())
            )
        return result.rowcount
