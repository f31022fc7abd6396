"""Refresh tokens: digests only, rotated on use, revoked by family (RFC 9700 §4.14.2).

Storing, rotating, ``state`` and ``introspected`` run on the driver connection: the token
endpoint and introspection call them on every request (speed); revocation by family,
session, user or client, ``get`` and the purges are SQLAlchemy Core.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select, update

from ostiary import clock
from ostiary.domain.tokens import (
    Introspected,
    NewRefreshToken,
    RefreshToken,
    RevokedAccess,
    TokenState,
)
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.repos._driver import HotConnection, Row, json_text, json_value
from ostiary.storage.repos._gates import parse_gates, state_sql
from ostiary.storage.repos.users import USER
from ostiary.storage.tables import refresh_tokens as rt


def _token(values: Row) -> RefreshToken:
    (token_hash, family_id, client_id, user_id, scopes, auth_time, created_at) = values[:7]
    (expires_at, sid, acr, amr, claims, used_at, revoked_at) = values[7:14]
    access_jti, access_expires_at, cnf, resources = values[14:18]
    return RefreshToken(
        bytes(token_hash),
        family_id,
        client_id,
        user_id,
        tuple(json_value(scopes)),
        auth_time,
        created_at,
        expires_at,
        sid,
        acr,
        json_value(amr),
        json_value(claims),
        used_at,
        revoked_at,
        access_jti,
        access_expires_at,
        json_value(cnf),
        json_value(resources),
    )


TOKEN = RowType(rt, RefreshToken.__slots__, _token)

_INTROSPECT = """
SELECT t.client_id, t.user_id, t.scopes, t.created_at, t.expires_at,
       t.used_at IS NOT NULL OR t.revoked_at IS NOT NULL,
       u.username, u.id IS NULL OR u.disabled,
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = t.sid),
       t.sid IS NOT NULL
FROM refresh_tokens t LEFT JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1
"""


# One round trip: the token, its user, its session's end and its scopes' role gates.
_STATE = {
    pg: state_sql("refresh_tokens", "t", TOKEN.sql("t"), "token_hash", postgresql=pg)
    for pg in (True, False)
}

NEW_COLUMNS = (
    "token_hash, family_id, client_id, user_id, scopes, auth_time, created_at, expires_at,"
    " sid, acr, amr, claims, access_jti, access_expires_at, cnf, resources"
)
_PARAMS = ", ".join(f"${i}" for i in range(1, 17))
_INSERT = f"INSERT INTO refresh_tokens ({NEW_COLUMNS}) VALUES ({_PARAMS})"  # noqa: S608
# RFC 9700 §4.14.2: claim the old token (only if unused and unrevoked) and store its
# successor in one statement, so both happen or neither, in one round trip.
_ROTATE_PG = f"""
WITH claimed AS (
    UPDATE refresh_tokens SET used_at = $18
    WHERE token_hash = $17 AND used_at IS NULL AND revoked_at IS NULL
    RETURNING family_id
)
INSERT INTO refresh_tokens ({NEW_COLUMNS})
SELECT $1, $2::varchar, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
FROM claimed WHERE claimed.family_id = $2::varchar
RETURNING 1
"""  # noqa: S608
_CLAIM = """
UPDATE refresh_tokens SET used_at = $2
WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL
RETURNING family_id
"""


async def insert_token(conn: HotConnection, token: NewRefreshToken, now: int) -> None:
    await conn.fetch(_INSERT, *insert_values(token, now))


def insert_values(new: NewRefreshToken, now: int) -> tuple[Any, ...]:
    """The ``_INSERT`` parameters, in order."""
    return (
        new.token_hash,
        new.family_id,
        new.client_id,
        new.user_id,
        json_text(new.scopes),
        new.auth_time,
        now,
        now + new.ttl,
        new.sid,
        new.acr,
        json_text(new.amr),
        json_text(new.claims),
        new.access_jti,
        new.access_expires_at,
        json_text(new.cnf),
        json_text(new.resources),
    )


class RefreshTokenRepository(Repository):
    async def add(
        self,
        *,
        token_hash: bytes,
        family_id: str,
        client_id: str,
        user_id: str | None,
        scopes: list[str],
        auth_time: int | None,
        ttl: int,
        access_jti: str,
        access_expires_at: int,
        sid: str | None = None,
        acr: str | None = None,
        amr: list[str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        token = NewRefreshToken(
            token_hash,
            family_id,
            client_id,
            user_id,
            scopes,
            auth_time,
            ttl,
            access_jti,
            access_expires_at,
            sid,
            acr,
            amr,
            claims,
        )
        await self.insert(token)

    async def insert(self, token: NewRefreshToken) -> None:
        async with self._driver.connection() as conn:
            await insert_token(conn, token, clock.now())

    async def get(self, token_hash: bytes) -> RefreshToken | None:
        row = await self._first(TOKEN.select().where(rt.c.token_hash == token_hash))
        return _token(row) if row else None

    async def state(self, token_hash: bytes) -> TokenState | None:
        """The token, its user, its session's end and its scopes' gates: one statement."""
        row = await self._driver.fetchrow(_STATE[self._driver.postgresql], token_hash)
        if row is None:
            return None
        n, end = TOKEN.width, TOKEN.width + USER.width
        user = USER.build(row[n:end]) if row[n] is not None else None
        return TokenState(_token(row), user, row[end], parse_gates(row[end + 1]))

    async def introspected(self, token_hash: bytes) -> Introspected | None:
        """The token as introspection sees it: fewer columns than ``state`` (no profile,
        no claims, no gates), one statement."""
        row = await self._driver.fetchrow(_INTROSPECT, token_hash)
        if row is None:
            return None
        client_id, user_id, scopes, created_at, expires_at, spent = row[:6]
        username, no_user, session_end, bound = row[6:10]
        return Introspected(
            client_id,
            user_id,
            list(json_value(scopes) or []),
            created_at,
            expires_at,
            bool(spent),
            username,
            user_id is not None and bool(no_user),
            session_end,
            bool(bound),
        )

    async def rotate(self, old_hash: bytes, new: NewRefreshToken) -> bool:
        """Claim the old token for one rotation and store its successor, atomically.

        False (and nothing stored) if the old token was used or revoked before. A family
        revocation racing this either comes first (the claim fails) or sees the
        successor (``_revoke_where`` looks twice).
        """
        now = clock.now()
        async with self._driver.connection() as conn:
            if conn.postgresql:
                return (
                    await conn.fetchrow(_ROTATE_PG, *insert_values(new, now), old_hash, now)
                    is not None
                )
            async with conn.transaction():
                if await conn.fetchrow(_CLAIM, old_hash, now) is None:
                    return False
                await insert_token(conn, new, now)
            return True

    async def revoke_family(self, family_id: str) -> list[RevokedAccess]:
        """Revoke every token of a family; return the live access-token ids it issued."""
        return await self._revoke_where(rt.c.family_id == family_id)

    async def revoke_for_session(self, sid: str) -> list[RevokedAccess]:
        """Revoke the session-bound refresh tokens of one SSO session (offline ones stay)."""
        return await self._revoke_where(rt.c.sid == sid)

    async def revoke_for_user(self, user_id: str) -> list[RevokedAccess]:
        """Revoke every refresh token of a user; return the live access-token ids issued."""
        return await self._revoke_where(rt.c.user_id == user_id)

    async def revoke_for_client(self, client_id: str) -> list[RevokedAccess]:
        return await self._revoke_where(rt.c.client_id == client_id)

    async def _revoke_where(self, condition: ColumnElement[bool]) -> list[RevokedAccess]:
        now = clock.now()
        revoke = update(rt).where(condition, rt.c.revoked_at.is_(None)).values(revoked_at=now)
        async with self._engine.begin() as conn:
            # A rotation that held one of these rows while a pass waited for it has
            # committed its successor since, and on PostgreSQL (READ COMMITTED) only a new
            # statement sees that row: repeat until a pass finds nothing left. Every row
            # revoked here stays locked until the commit, so no rotation can claim it
            # meanwhile. On SQLite the writer lock orders them; the second pass is empty.
            while (await conn.execute(revoke)).rowcount:
                pass
            rows = (
                await conn.execute(
                    select(rt.c.access_jti, rt.c.access_expires_at).where(
                        condition, rt.c.access_jti.is_not(None), rt.c.access_expires_at > now
                    )
                )
            ).all()
        return [RevokedAccess(r.access_jti, r.access_expires_at) for r in rows]

    async def delete_for_client(self, client_id: str) -> int:
        return await self._write(delete(rt).where(rt.c.client_id == client_id))

    async def purge_expired(self) -> int:
        return await self._write(delete(rt).where(rt.c.expires_at < clock.now()))
