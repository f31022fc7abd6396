"""Password-reset and email-verification tokens: digests, single use, short lived."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.one_time_tokens import OneTimeToken
from ostiary.storage.tables import one_time_tokens as ott


class OneTimeTokenRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(
        self, *, token_hash: bytes, user_id: str, purpose: str, ttl: int, email: str | None = None
    ) -> None:
        now = clock.now()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(ott).values(
                    token_hash=token_hash,
                    user_id=user_id,
                    purpose=purpose,
                    email=email,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )

    async def peek(self, token_hash: bytes, purpose: str) -> OneTimeToken | None:
        """The token if it is live and unused, without using it (to show a form)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ott).where(
                        ott.c.token_hash == token_hash,
                        ott.c.purpose == purpose,
                        ott.c.used_at.is_(None),
                        ott.c.expires_at > clock.now(),
                    )
                )
            ).first()
        return OneTimeToken(**row._mapping) if row else None

    async def use(self, token_hash: bytes, purpose: str) -> OneTimeToken | None:
        """Use the token once; None if unknown, expired, used, or for another purpose."""
        now = clock.now()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(ott)
                .where(
                    ott.c.token_hash == token_hash,
                    ott.c.purpose == purpose,
                    ott.c.used_at.is_(None),
                    ott.c.expires_at > now,
                )
                .values(used_at=now)
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(select(ott).where(ott.c.token_hash == token_hash))).first()
        return OneTimeToken(**row._mapping) if row else None

    async def drop_for_user(self, user_id: str, purpose: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(ott).where(ott.c.user_id == user_id, ott.c.purpose == purpose)
            )

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(ott).where((ott.c.expires_at < clock.now()) | ott.c.used_at.is_not(None))
            )
        return result.rowcount
