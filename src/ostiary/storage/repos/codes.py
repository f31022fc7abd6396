"""Authorization codes: single use, short lived, stored as digests (RFC 6749 §4.1.2)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.cache.bounded import BoundedCache
from ostiary.domain.codes import AuthorizationCode, CodeState, Decide, R, Redemption, Refused
from ostiary.storage.common.codes import AddsCodes, Remembered
from ostiary.storage.repos._driver import Driver, Row, json_text, json_value
from ostiary.storage.repos._gates import gates_sql, parse_gates
from ostiary.storage.repos._held_back import HeldBack, holding
from ostiary.storage.repos.refresh_tokens import NEW_COLUMNS, insert_token, insert_values
from ostiary.storage.repos.users import USER_COLUMNS, user_from_driver
from ostiary.storage.tables import authorization_codes as codes


def _row(row: object) -> AuthorizationCode:
    m = row._mapping  # type: ignore[attr-defined]
    values = {k: m[k] for k in AuthorizationCode.__slots__}
    values["scopes"] = tuple(values["scopes"])
    return AuthorizationCode(**values)


_COLUMNS = AuthorizationCode.__slots__


def _from_driver(values: Row) -> AuthorizationCode:
    code = dict(zip(_COLUMNS, values[: len(_COLUMNS)], strict=True))
    code["code_hash"] = bytes(code["code_hash"])
    if code["session_hash"] is not None:
        code["session_hash"] = bytes(code["session_hash"])
    code["redirect_uri_given"] = bool(code["redirect_uri_given"])
    code["scopes"] = tuple(json_value(code["scopes"]))
    code["amr"] = json_value(code["amr"])
    code["claims"] = json_value(code["claims"])
    code["cnf"] = json_value(code["cnf"])
    code["resources"] = json_value(code["resources"])
    return AuthorizationCode(**code)


# Column lists are constants of this module; every value is a bound parameter.
def _state_sql(postgresql: bool) -> str:
    columns = ", ".join(f"c.{name}" for name in _COLUMNS)
    return f"""
SELECT {columns}, {USER_COLUMNS},
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = c.sid),
       {gates_sql("c.scopes", postgresql=postgresql)}
FROM authorization_codes c LEFT JOIN users u ON u.id = c.user_id
WHERE c.code_hash = $1
"""  # noqa: S608


_STATE = {True: _state_sql(True), False: _state_sql(False)}
_CODE_COLUMNS = """code_hash, client_id, user_id, session_hash, redirect_uri,
    redirect_uri_given, scopes, code_challenge, auth_time, nonce, sid, acr, amr, claims,
    expires_at, cnf, resources"""
_CODE_VALUES = ", ".join(f"${i}" for i in range(1, 18))
_INSERT = f"INSERT INTO authorization_codes ({_CODE_COLUMNS}) VALUES ({_CODE_VALUES})"  # noqa: S608
_LINK_SESSION = """INSERT INTO session_clients (sid, client_id, created_at)
    SELECT sid, client_id, $18 FROM code WHERE sid IS NOT NULL
    ON CONFLICT (sid, client_id) DO NOTHING"""
# A code at the end of a browser interaction in one round trip on PostgreSQL:
# the interaction consumed (single use: a second submission finds it gone and stores
# nothing), the code stored, and the session recorded as having given tokens to the client
# (for logout). All or nothing, one statement.
_ISSUE_PG = f"""
WITH gone AS (DELETE FROM interactions WHERE id = $19 RETURNING 1),
code AS (
    INSERT INTO authorization_codes ({_CODE_COLUMNS})
    SELECT {_CODE_VALUES} FROM gone
    RETURNING sid, client_id
),
linked AS ({_LINK_SESSION})
SELECT count(*) FROM code
"""  # noqa: S608
_ISSUE_DIRECT_PG = f"""
WITH code AS (
    INSERT INTO authorization_codes ({_CODE_COLUMNS}) VALUES ({_CODE_VALUES})
    RETURNING sid, client_id
),
linked AS ({_LINK_SESSION})
SELECT count(*) FROM code
"""  # noqa: S608
_DELETE_INTERACTION = "DELETE FROM interactions WHERE id = $1 RETURNING 1"
_LINK_SESSION_SQLITE = """
INSERT INTO session_clients (sid, client_id, created_at) VALUES ($1, $2, $3)
ON CONFLICT (sid, client_id) DO NOTHING
"""


def _consume_sql(guards: str = "") -> str:
    """Consume a code ($1) and record what it issued; ``guards``: further conditions."""
    return f"""
UPDATE authorization_codes
SET consumed_at = $2, family_id = $3, access_jti = $4, access_expires_at = $5
WHERE code_hash = $1 AND consumed_at IS NULL{guards}
RETURNING 1
"""  # noqa: S608


# RFC 6749 §4.1.2: consume the code, record what it issues and store the refresh token in
# one statement ($1-$16: the refresh token, as refresh_tokens.insert_values gives them).
def _redeem_pg_sql(guards: str = "") -> str:
    return f"""
WITH consumed AS (
    UPDATE authorization_codes
    SET consumed_at = $17, family_id = $2::varchar, access_jti = $13, access_expires_at = $14
    WHERE code_hash = $18 AND consumed_at IS NULL{guards}
    RETURNING 1
)
INSERT INTO refresh_tokens ({NEW_COLUMNS})
SELECT $1, $2::varchar, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
FROM consumed
RETURNING 1
"""  # noqa: S608


_CONSUME = _consume_sql()
_REDEEM_PG = _redeem_pg_sql()


def _guards(now: str, postgresql: bool) -> str:
    """Conditions for redeeming a code from what the worker remembered of it (``take``):
    what ``state`` would have refused on is checked in the consuming statement itself, so
    the redemption is as exact as one after a fresh read. The code has not expired (as the
    database has it), its user is still enabled, its SSO session (if any) still live, and
    none of its scopes is role-gated (a gate added since the code was issued means reading
    the roles: the caller falls back to ``state``).
    """
    scopes = (
        "SELECT json_array_elements_text(authorization_codes.scopes)"
        if postgresql
        else "SELECT value FROM json_each(authorization_codes.scopes)"
    )
    return f"""
    AND authorization_codes.expires_at > {now}
    AND EXISTS (SELECT 1 FROM users u WHERE u.id = authorization_codes.user_id AND NOT u.disabled)
    AND (authorization_codes.sid IS NULL OR EXISTS (
        SELECT 1 FROM sessions s WHERE s.sid = authorization_codes.sid AND s.expires_at > {now}))
    AND NOT EXISTS (SELECT 1 FROM scope_roles sr WHERE sr.scope IN ({scopes}))"""  # noqa: S608


_CONSUME_GUARDED = {pg: _consume_sql(_guards("$2", pg)) for pg in (True, False)}
_REDEEM_PG_GUARDED = _redeem_pg_sql(_guards("$17", True))
# Codes this worker issued and still remembers (``add(remember=…)``), until redeemed or
# expired.
ISSUED_MAX = 1000


def _now() -> float:
    return clock.now()  # looked up at each call: tests move ``clock.now``


class CodeRepository(AddsCodes):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)
        self._issued: BoundedCache[bytes, CodeState] = BoundedCache(
            ISSUED_MAX, lru=False, expiring=True, clock=_now
        )

    async def state(self, code_hash: bytes) -> CodeState | None:
        """The code, its user, its session's end and its scopes' gates: one statement."""
        row = await self._driver.fetchrow(_STATE[self._driver.postgresql], code_hash)
        if row is None:
            return None
        n = len(_COLUMNS)
        user = user_from_driver(row[n : n + 11]) if row[n] is not None else None
        return CodeState(_from_driver(row), user, row[n + 11], parse_gates(row[n + 12]))

    async def redeem(self, code_hash: bytes, client_id: str, decide: Decide[R]) -> R | Refused:
        """Redeem a code of ``client_id`` once: what ``decide`` returns for the code's state
        (it raises if the request may not have it), or why nothing was redeemed.

        Single use, exact even between concurrent requests on different nodes: one
        statement consumes the code, records what it issued and stores the refresh token,
        and only one request's statement finds the code unconsumed. A replay racing it sees
        the code consumed only once the refresh token is stored too, so revoking what the
        code issued (``mark_replayed``, then the family) always reaches it.

        A code this worker issued and still remembers (the token request that follows a
        login usually lands here) is decided without reading it back; the consuming
        statement then checks itself what the read would have refused on (see ``_guards``).
        If that does not hold (a replay, or the user, the session or the scopes' gates
        changed), the code is read and decided again, as any other code is.
        """
        remembered = self._issued.pop(code_hash)
        if remembered is not None:
            if remembered.code.client_id != client_id:
                return Refused.UNKNOWN
            redemption = await decide(remembered)
            if await self._consume(code_hash, redemption, guarded=True):
                return redemption
        # One statement: the code, its user, its session and its scopes' role gates.
        state = await self.state(code_hash)
        if state is None or state.code.client_id != client_id:
            return Refused.UNKNOWN
        if state.code.consumed_at is not None:
            return Refused.REPLAYED
        redemption = await decide(state)
        if await self._consume(code_hash, redemption, guarded=False):
            return redemption
        return Refused.REPLAYED

    async def _consume(self, code_hash: bytes, issued: Redemption, *, guarded: bool) -> bool:
        """Consume the code, record what it issued and store the refresh token (if one goes
        with it): all or nothing. True only for the one call that consumed the code.
        ``guarded``: for a remembered code, also only if the read would have allowed it."""
        now = clock.now()
        refresh = issued.refresh
        async with self._driver.connection() as conn:
            pg = conn.postgresql
            consume = _CONSUME_GUARDED[pg] if guarded else _CONSUME
            if refresh is None:
                row = await conn.fetchrow(
                    consume, code_hash, now, None, issued.access_jti, issued.access_expires_at
                )
                return row is not None
            if pg:
                redeem = _REDEEM_PG_GUARDED if guarded else _REDEEM_PG
                row = await conn.fetchrow(redeem, *insert_values(refresh, now), now, code_hash)
                return row is not None
            async with conn.transaction():
                args = (
                    code_hash,
                    now,
                    refresh.family_id,
                    issued.access_jti,
                    issued.access_expires_at,
                )
                if await conn.fetchrow(consume, *args) is None:
                    return False
                await insert_token(conn, refresh, now)
            return True

    async def _store(
        self, code: AuthorizationCode, now: int, interaction_id: str | None, remember: Remembered
    ) -> bool:
        """What a unit of work holds back goes in the same round trip as the code (and is
        written even when no code is); ``remember`` keeps the stored code for ``take``."""
        values = (
            code.code_hash,
            code.client_id,
            code.user_id,
            code.session_hash,
            code.redirect_uri,
            code.redirect_uri_given,
            json_text(code.scopes),
            code.code_challenge,
            code.auth_time,
            code.nonce,
            code.sid,
            code.acr,
            json_text(code.amr),
            json_text(code.claims),
            code.expires_at,
            json_text(code.cnf),
            json_text(code.resources),
        )
        stored = await self._add(values, now, code.sid, code.client_id, interaction_id, holding())
        if stored and remember is not None:
            user, session_expires_at = remember
            # The password hash is never kept.
            user = dataclasses.replace(user, password_hash=None)
            state = CodeState(code, user, session_expires_at, {})
            self._issued.put(code.code_hash, state, expires_at=code.expires_at)
        return stored

    async def _add(
        self,
        values: tuple[Any, ...],
        now: int,
        sid: str | None,
        client_id: str,
        interaction_id: str | None,
        held: HeldBack | None,
    ) -> bool:
        async with self._driver.connection() as conn:
            if conn.postgresql:
                if interaction_id is None:
                    row = await conn.fetchrow_with(held, _ISSUE_DIRECT_PG, *values, now)
                else:
                    row = await conn.fetchrow_with(held, _ISSUE_PG, *values, now, interaction_id)
                return row is not None and row[0] == 1
            async with conn.transaction():
                await conn.fetchrow_with(held, "SELECT 1")
                consumed = interaction_id is None or await conn.fetch(
                    _DELETE_INTERACTION, interaction_id
                )
                if not consumed:
                    return False
                await conn.fetch(_INSERT, *values)
                if sid is not None:
                    await conn.fetch(_LINK_SESSION_SQLITE, sid, client_id, now)
            return True

    async def mark_replayed(self, code_hash: bytes) -> AuthorizationCode | None:
        """Flag a replay and return the row as it is now (with what was issued)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(codes).where(codes.c.code_hash == code_hash).values(replayed_at=clock.now())
            )
            row = (await conn.execute(select(codes).where(codes.c.code_hash == code_hash))).first()
        return _row(row) if row else None

    async def was_replayed(self, code_hash: bytes) -> bool:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(codes.c.replayed_at).where(codes.c.code_hash == code_hash)
                )
            ).first()
        return row is not None and row.replayed_at is not None

    async def issued_for_session(self, sid: str) -> list[tuple[str, int]]:
        """Live access-token ids issued from this session's codes (for logout)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(codes.c.access_jti, codes.c.access_expires_at).where(
                        codes.c.sid == sid,
                        codes.c.access_jti.is_not(None),
                        codes.c.access_expires_at > clock.now(),
                    )
                )
            ).all()
        return [(r.access_jti, r.access_expires_at) for r in rows]

    async def discard_unredeemed_for_client(self, client_id: str) -> int:
        """Delete the client's codes that are live and not yet redeemed: a client-wide
        revocation also cuts off the grants still on their way to the token endpoint. A
        copy another worker remembers then finds no row to consume, so its redemption falls
        back to the read, which finds nothing (``Refused.UNKNOWN``)."""
        self._issued.drop(lambda _, state: state.code.client_id == client_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(codes).where(
                    codes.c.client_id == client_id,
                    codes.c.consumed_at.is_(None),
                    codes.c.expires_at > clock.now(),  # the expires_at index bounds the scan
                )
            )
        return result.rowcount

    async def purge_expired(self, keep_seconds: int = 3600) -> int:
        """Forget codes well past expiry (kept a while so replays are still detected)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(codes).where(codes.c.expires_at < clock.now() - keep_seconds)
            )
        return result.rowcount
