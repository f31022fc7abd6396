"""Password-reset and email-verification tokens: digests, single use, short lived."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, insert, update

from ostiary import clock
from ostiary.domain.one_time_tokens import OneTimeToken
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.tables import one_time_tokens as ott

TOKEN = RowType.of(ott, OneTimeToken)


def _live(token_hash: bytes, purpose: str, now: int) -> tuple[ColumnElement[bool], ...]:
    return (
        ott.c.token_hash == token_hash,
        ott.c.purpose == purpose,
        ott.c.used_at.is_(None),
        ott.c.expires_at > now,
    )


class OneTimeTokenRepository(Repository):
    async def add(
        self, *, token_hash: bytes, user_id: str, purpose: str, ttl: int, email: str | None = None
    ) -> None:
        now = clock.now()
        token = OneTimeToken(token_hash, user_id, purpose, email, now, now + ttl, None)
        await self._write(insert(ott).values(**TOKEN.values(token)))

    async def peek(self, token_hash: bytes, purpose: str) -> OneTimeToken | None:
        """The token if it is live and unused, without using it (to show a form)."""
        row = await self._first(TOKEN.select().where(*_live(token_hash, purpose, clock.now())))
        return TOKEN.build(row) if row else None

    async def use(self, token_hash: bytes, purpose: str) -> OneTimeToken | None:
        """Use the token once; None if unknown, expired, used, or for another purpose."""
        now = clock.now()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(ott).where(*_live(token_hash, purpose, now)).values(used_at=now)
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(TOKEN.select().where(ott.c.token_hash == token_hash))).first()
        return TOKEN.build(row) if row else None

    async def drop_for_user(self, user_id: str, purpose: str) -> None:
        await self._write(delete(ott).where(ott.c.user_id == user_id, ott.c.purpose == purpose))

    async def purge_expired(self) -> int:
        return await self._write(
            delete(ott).where((ott.c.expires_at < clock.now()) | ott.c.used_at.is_not(None))
        )
