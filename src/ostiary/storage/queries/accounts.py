"""What a person's own account pages and password reset read across tables."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.repos import user_emails
from ostiary.storage.tables import clients, consents
from ostiary.storage.tables import refresh_tokens as rt


@dataclass(frozen=True, slots=True)
class ConsentedApplication:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    granted_at: int


@dataclass(frozen=True, slots=True)
class RevokedGrants:
    count: int
    # (jti, expires_at) of the live access tokens issued with them, for the deny list.
    access_tokens: list[tuple[str, int]]


class AccountQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def email_holders(self, email: str, *, limit: int = 2) -> list[str]:
        """Ids of accounts with this address (``user_emails.holders``), at most ``limit``."""
        async with self._engine.connect() as conn:
            return await user_emails.holders(conn, email, limit=limit)

    async def applications(self, user_id: str) -> list[ConsentedApplication]:
        """The clients the user has consented to, by name, with the scopes allowed."""
        stmt = (
            select(consents.c.client_id, consents.c.scopes, consents.c.updated_at, clients.c.name)
            .join(clients, clients.c.client_id == consents.c.client_id)
            .where(consents.c.user_id == user_id)
            .order_by(clients.c.name)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            ConsentedApplication(r.client_id, r.name, tuple(sorted(r.scopes)), r.updated_at)
            for r in rows
        ]

    async def revoke_refresh_tokens(
        self, user_id: str, *, client_id: str | None = None, keeping_sid: str | None = None
    ) -> RevokedGrants:
        """Revoke the user's live refresh tokens: those of ``client_id`` when given, and
        with ``keeping_sid`` all but those bound to that session (offline ones included)."""
        conditions: list[ColumnElement[bool]] = [rt.c.user_id == user_id]
        if client_id is not None:
            conditions.append(rt.c.client_id == client_id)
        if keeping_sid is not None:
            conditions.append(or_(rt.c.sid.is_(None), rt.c.sid != keeping_sid))
        now = clock.now()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(rt).where(*conditions, rt.c.revoked_at.is_(None)).values(revoked_at=now)
            )
            rows = (
                await conn.execute(
                    select(rt.c.access_jti, rt.c.access_expires_at).where(
                        *conditions, rt.c.access_jti.is_not(None), rt.c.access_expires_at > now
                    )
                )
            ).all()
        return RevokedGrants(result.rowcount, [(r.access_jti, r.access_expires_at) for r in rows])
