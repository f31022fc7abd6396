"""Authorization codes: single use, short lived, stored as digests (RFC 6749 §4.1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.tables import authorization_codes as codes


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    code_hash: bytes
    client_id: str
    user_id: str
    session_hash: bytes | None
    redirect_uri: str
    redirect_uri_given: bool
    scopes: tuple[str, ...]
    code_challenge: str | None
    auth_time: int
    nonce: str | None
    sid: str | None
    acr: str | None
    amr: list[str] | None
    claims: dict[str, Any] | None
    expires_at: int
    consumed_at: int | None
    replayed_at: int | None
    family_id: str | None
    access_jti: str | None
    access_expires_at: int | None


def _row(row: object) -> AuthorizationCode:
    m = row._mapping  # type: ignore[attr-defined]
    values = {k: m[k] for k in AuthorizationCode.__slots__}  # type: ignore[attr-defined]
    values["scopes"] = tuple(values["scopes"])
    return AuthorizationCode(**values)


class CodeRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self,
        *,
        code_hash: bytes,
        client_id: str,
        user_id: str,
        session_hash: bytes | None,
        redirect_uri: str,
        redirect_uri_given: bool,
        scopes: list[str],
        code_challenge: str | None,
        auth_time: int,
        ttl: int,
        nonce: str | None = None,
        sid: str | None = None,
        acr: str | None = None,
        amr: list[str] | None = None,
        claims: dict[str, Any] | None = None,
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(codes).values(
                    code_hash=code_hash,
                    client_id=client_id,
                    user_id=user_id,
                    session_hash=session_hash,
                    redirect_uri=redirect_uri,
                    redirect_uri_given=redirect_uri_given,
                    scopes=scopes,
                    code_challenge=code_challenge,
                    auth_time=auth_time,
                    nonce=nonce,
                    sid=sid,
                    acr=acr,
                    amr=amr,
                    claims=claims,
                    expires_at=clock.now() + ttl,
                )
            )

    async def get(self, code_hash: bytes) -> AuthorizationCode | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(codes).where(codes.c.code_hash == code_hash))).first()
        return _row(row) if row else None

    async def consume(
        self,
        code_hash: bytes,
        *,
        family_id: str | None,
        access_jti: str,
        access_expires_at: int,
    ) -> bool:
        """Mark the code used and what it will issue; True only for the one call that did.

        The conditional UPDATE makes single use exact even between concurrent requests
        on different nodes: only one sees a row count of one. Recording the family and
        access-token id in the same statement lets a racing replay revoke them.
        """
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(codes)
                .where(codes.c.code_hash == code_hash, codes.c.consumed_at.is_(None))
                .values(
                    consumed_at=clock.now(),
                    family_id=family_id,
                    access_jti=access_jti,
                    access_expires_at=access_expires_at,
                )
            )
        return result.rowcount == 1

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

    async def purge_expired(self, keep_seconds: int = 3600) -> int:
        """Forget codes well past expiry (kept a while so replays are still detected)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(codes).where(codes.c.expires_at < clock.now() - keep_seconds)
            )
        return result.rowcount
