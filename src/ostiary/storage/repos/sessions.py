"""SSO sessions (browser login state), keyed by the digest of the cookie value."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import session_clients, sessions


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: bytes
    user_id: str
    auth_time: int
    created_at: int
    expires_at: int
    sid: str
    amr: tuple[str, ...]
    # Set when an upstream provider named one (federation); else prompt.py decides.
    acr: str | None = None


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


class SessionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self,
        *,
        id_hash: bytes,
        user_id: str,
        ttl: int,
        amr: tuple[str, ...] = ("pwd",),
        acr: str | None = None,
    ) -> Session:
        now = clock.now()
        sid = secrets.token_urlsafe(24)
        session = Session(id_hash, user_id, now, now, now + ttl, sid, amr, acr)
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(sessions).values(
                    id_hash=id_hash,
                    user_id=user_id,
                    auth_time=now,
                    created_at=now,
                    expires_at=now + ttl,
                    sid=sid,
                    amr=list(amr),
                    acr=acr,
                )
            )
        return session

    async def reauthenticate(
        self,
        old_hash: bytes,
        new_hash: bytes,
        *,
        ttl: int,
        amr: tuple[str, ...] = ("pwd",),
        acr: str | None = None,
    ) -> bool:
        """A fresh login in the same session: new cookie value, auth_time, amr; same sid."""
        now = clock.now()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.id_hash == old_hash, sessions.c.expires_at > now)
                .values(
                    id_hash=new_hash, auth_time=now, expires_at=now + ttl, amr=list(amr), acr=acr
                )
            )
        return result.rowcount == 1

    async def get_live(self, id_hash: bytes) -> Session | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(sessions).where(
                        sessions.c.id_hash == id_hash, sessions.c.expires_at > clock.now()
                    )
                )
            ).first()
        return _row(row) if row else None

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

    async def add_client(self, sid: str, client_id: str) -> None:
        """Remember that this session gave tokens to this client (for logout)."""
        dialect = self._engine.dialect.name
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert_(session_clients)
            .values(sid=sid, client_id=client_id, created_at=clock.now())
            .on_conflict_do_nothing(index_elements=["sid", "client_id"])
        )
        async with self._engine.begin() as conn:
            await conn.execute(stmt)

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
