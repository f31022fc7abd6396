"""SSO sessions (browser login state), keyed by the digest of the cookie value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.sessions import Session
from ostiary.domain.users import User
from ostiary.storage.common.sessions import StartsSessions
from ostiary.storage.repos import _mfa_sql
from ostiary.storage.repos._driver import Driver, json_text, json_value
from ostiary.storage.repos._held_back import holding
from ostiary.storage.repos.users import USER_COLUMNS, user_from_driver
from ostiary.storage.tables import session_clients, sessions


def _row(row: object) -> Session:
    m = row._mapping  # type: ignore[attr-defined]
    return Session(
        m["id_hash"],
        m["user_id"],
        m["auth_time"],
        m["created_at"],
        m["expires_at"],
        m["sid"],
        tuple(m["amr"]),
        m["acr"],
    )


_SESSION_COLUMNS = (
    "s.id_hash, s.user_id, s.auth_time, s.created_at, s.expires_at, s.sid, s.amr, s.acr"
)
_LIVE = f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id_hash = $1 AND s.expires_at > $2"  # noqa: S608
_INSERT = (
    "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at, sid, amr, acr)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)


def _from_driver(values: Sequence[Any]) -> Session:
    id_hash, user_id, auth_time, created_at, expires_at, sid, amr, acr = values[:8]
    amr = tuple(json_value(amr))
    return Session(bytes(id_hash), user_id, auth_time, created_at, expires_at, sid, amr, acr)


# The live session of a cookie, its user and whether the user's roles or groups require
# MFA, in one round trip (every browser request that carries a session cookie asks this).
# USER_COLUMNS is a constant; values are parameters.
_LIVE_WITH_USER = f"""
{_mfa_sql.member_of("SELECT s2.user_id FROM sessions s2 WHERE s2.id_hash = $1")}
SELECT {_SESSION_COLUMNS}, {USER_COLUMNS}, {_mfa_sql.required("u.id", "$3")}
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id_hash = $1 AND s.expires_at > $2
"""  # noqa: S608


class SessionRepository(StartsSessions):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

    async def live_with_user(self, id_hash: bytes) -> tuple[Session, User, bool] | None:
        """The live session with this cookie digest, its user, and whether a role or group
        of the user's requires MFA (None: no such session)."""
        row = await self._driver.fetchrow(_LIVE_WITH_USER, id_hash, clock.now(), True)
        if row is None:
            return None
        return _from_driver(row), user_from_driver(row[8:19]), bool(row[19])

    async def _store(self, session: Session) -> None:
        """In a unit of work the row is held back (``_held_back``)."""
        s = session
        amr = json_text(list(s.amr))
        values = (s.id_hash, s.user_id, s.auth_time, s.created_at, s.expires_at, s.sid, amr, s.acr)
        held = holding()
        if held is not None:
            held.add(_INSERT, *values)
        else:
            await self._driver.fetch(_INSERT, *values)

    async def _renew(self, old_hash: bytes, now: int, changes: dict[str, Any]) -> Session | None:
        values = {**changes, "amr": list(changes["amr"])}
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.id_hash == old_hash, sessions.c.expires_at > now)
                    .values(**values)
                    .returning(*sessions.c)
                )
            ).first()
        return _row(row) if row else None

    async def get_live(self, id_hash: bytes) -> Session | None:
        row = await self._driver.fetchrow(_LIVE, id_hash, clock.now())
        return _from_driver(row) if row else None

    async def by_sid(self, sid: str) -> Session | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.sid == sid))).first()
        return _row(row) if row else None

    async def for_user(self, user_id: str) -> list[Session]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(sessions).where(
                        sessions.c.user_id == user_id, sessions.c.expires_at > clock.now()
                    )
                )
            ).all()
        return [_row(r) for r in rows]

    async def clients_of(self, sid: str) -> list[str]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(session_clients.c.client_id).where(session_clients.c.sid == sid)
                )
            ).all()
        return [r.client_id for r in rows]

    async def delete(self, id_hash: bytes) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))

    async def delete_sid(self, sid: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(sessions).where(sessions.c.sid == sid))
            await conn.execute(delete(session_clients).where(session_clients.c.sid == sid))
        return result.rowcount > 0

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(sessions).where(sessions.c.expires_at < clock.now()))
            live = select(sessions.c.sid)
            await conn.execute(delete(session_clients).where(session_clients.c.sid.not_in(live)))
        return result.rowcount
