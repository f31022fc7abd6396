"""Refresh tokens: digests only, rotated on use, revoked by family (RFC 9700 §4.14.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.tokens import (
    Introspected,
    NewRefreshToken,
    RefreshToken,
    RevokedAccess,
    TokenState,
)
from ostiary.storage.repos._driver import Driver, HotConnection, Row, json_text, json_value
from ostiary.storage.repos._gates import gates_sql, parse_gates
from ostiary.storage.repos.users import USER_COLUMNS, user_from_driver
from ostiary.storage.tables import refresh_tokens as rt


def _row(row: object) -> RefreshToken:
    m = row._mapping  # type: ignore[attr-defined]
    values = {k: m[k] for k in RefreshToken.__slots__}  # type: ignore[attr-defined]
    values["scopes"] = tuple(values["scopes"])
    return RefreshToken(**values)


_COLUMNS = RefreshToken.__slots__  # type: ignore[attr-defined]
_T_COLUMNS = ", ".join(f"t.{name}" for name in _COLUMNS)


def _from_driver(values: Row) -> RefreshToken:
    token = dict(zip(_COLUMNS, values[: len(_COLUMNS)], strict=True))
    token["scopes"] = tuple(json_value(token["scopes"]))
    token["amr"] = json_value(token["amr"])
    token["claims"] = json_value(token["claims"])
    token["token_hash"] = bytes(token["token_hash"])
    return RefreshToken(**token)


_INTROSPECT = """
SELECT t.client_id, t.user_id, t.scopes, t.created_at, t.expires_at,
       t.used_at IS NOT NULL OR t.revoked_at IS NOT NULL,
       u.username, u.id IS NULL OR u.disabled,
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = t.sid),
       t.sid IS NOT NULL
FROM refresh_tokens t LEFT JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1
"""


# Column lists below are constants of this module; every value is a bound parameter.
# One round trip: the token, its user, its session's end and its scopes' role gates.
# sessions.sid is indexed, not unique (a random value, so one row in practice): MAX keeps
# this to one row.
def _state_sql(postgresql: bool) -> str:
    return f"""
SELECT {_T_COLUMNS}, {USER_COLUMNS},
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = t.sid),
       {gates_sql("t.scopes", postgresql=postgresql)}
FROM refresh_tokens t LEFT JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1
"""  # noqa: S608


_STATE = {True: _state_sql(True), False: _state_sql(False)}

NEW_COLUMNS = (
    "token_hash, family_id, client_id, user_id, scopes, auth_time, created_at, expires_at,"
    " sid, acr, amr, claims, access_jti, access_expires_at"
)
_PARAMS = ", ".join(f"${i}" for i in range(1, 15))
_INSERT = f"INSERT INTO refresh_tokens ({NEW_COLUMNS}) VALUES ({_PARAMS})"  # noqa: S608
# RFC 9700 §4.14.2: claim the old token (only if unused and unrevoked) and store its
# successor in one statement, so both happen or neither, in one round trip.
_ROTATE_PG = f"""
WITH claimed AS (
    UPDATE refresh_tokens SET used_at = $16
    WHERE token_hash = $15 AND used_at IS NULL AND revoked_at IS NULL
    RETURNING family_id
)
INSERT INTO refresh_tokens ({NEW_COLUMNS})
SELECT $1, $2::varchar, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
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
    )


class RefreshTokenRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

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
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(rt).where(rt.c.token_hash == token_hash))).first()
        return _row(row) if row else None

    async def state(self, token_hash: bytes) -> TokenState | None:
        """The token, its user, its session's end and its scopes' gates: one statement."""
        row = await self._driver.fetchrow(_STATE[self._driver.postgresql], token_hash)
        if row is None:
            return None
        n = len(_COLUMNS)
        user = user_from_driver(row[n : n + 11]) if row[n] is not None else None
        return TokenState(_from_driver(row), user, row[n + 11], parse_gates(row[n + 12]))

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
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(rt).where(rt.c.client_id == client_id))
        return result.rowcount

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(rt).where(rt.c.expires_at < clock.now()))
        return result.rowcount
