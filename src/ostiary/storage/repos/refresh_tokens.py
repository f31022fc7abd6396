"""Refresh tokens: digests only, rotated on use, revoked by family (RFC 9700 §4.14.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import refresh_tokens as rt


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: bytes
    family_id: str
    client_id: str
    user_id: str | None
    scopes: tuple[str, ...]
    auth_time: int | None
    created_at: int
    expires_at: int
    sid: str | None
    acr: str | None
    amr: list[str] | None
    claims: dict[str, Any] | None
    used_at: int | None
    revoked_at: int | None
    access_jti: str | None
    access_expires_at: int | None


def _row(row: object) -> RefreshToken:
    m = row._mapping  # type: ignore[attr-defined]
    values = {k: m[k] for k in RefreshToken.__slots__}  # type: ignore[attr-defined]
    values["scopes"] = tuple(values["scopes"])
    return RefreshToken(**values)


@dataclass(frozen=True, slots=True)
class RevokedAccess:
    """Access-token ids that went with revoked refresh tokens, to put on the deny list."""

    jti: str
    expires_at: int


class RefreshTokenRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

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
        now = clock.now()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(rt).values(
                    token_hash=token_hash,
                    family_id=family_id,
                    client_id=client_id,
                    user_id=user_id,
                    scopes=scopes,
                    auth_time=auth_time,
                    created_at=now,
                    expires_at=now + ttl,
                    access_jti=access_jti,
                    access_expires_at=access_expires_at,
                    sid=sid,
                    acr=acr,
                    amr=amr,
                    claims=claims,
                )
            )

    async def get(self, token_hash: bytes) -> RefreshToken | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(rt).where(rt.c.token_hash == token_hash))).first()
        return _row(row) if row else None

    async def mark_used(self, token_hash: bytes) -> bool:
        """Claim the token for one rotation; False if it was used or revoked before."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(rt)
                .where(
                    rt.c.token_hash == token_hash, rt.c.used_at.is_(None), rt.c.revoked_at.is_(None)
                )
                .values(used_at=clock.now())
            )
        return result.rowcount == 1

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
        async with self._engine.begin() as conn:
            await conn.execute(
                update(rt).where(condition, rt.c.revoked_at.is_(None)).values(revoked_at=now)
            )
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
