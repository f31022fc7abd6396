"""Deny list of JWT access-token ids, kept until the token would have expired (RFC 7009).

Each newly denied id is also appended to the revocation feed (``revocation_events``).
``access_state`` and ``access_brief`` run on the driver connection: every access token a
protected endpoint or introspection accepts is checked here (speed); the writes are Core.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from ostiary import clock
from ostiary.domain.revocation import RevocationEvent
from ostiary.domain.tokens import AccessTokenBrief, AccessTokenState
from ostiary.storage.repos._base import Repository
from ostiary.storage.repos.revocation_events import insert_events
from ostiary.storage.repos.users import USER, USER_COLUMNS
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


class RevocationRepository(Repository):
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
        end = 1 + USER.width
        user = USER.build(row[1:end]) if row[1] is not None else None
        return AccessTokenState(row[0] is not None, user, row[end])

    async def access_brief(
        self, jti: str, user_id: str | None, sid: str | None
    ) -> AccessTokenBrief:
        """As ``access_state``, reading of the user only its name and whether it is
        disabled (introspection needs no more)."""
        row = await self._driver.fetchrow(_ACCESS_BRIEF, jti, user_id, sid)
        assert row is not None  # one row, always
        return AccessTokenBrief(row[0] is not None, row[1], bool(row[2]), row[3])

    async def purge_expired(self) -> int:
        return await self._write(
            delete(revoked_tokens).where(revoked_tokens.c.expires_at < clock.now())
        )
