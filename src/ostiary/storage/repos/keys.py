"""Signing keys: private halves sealed at rest, public JWKs kept until tokens expire."""

from __future__ import annotations

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.keys import StoredKey
from ostiary.storage.tables import signing_keys


class KeyRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, key: StoredKey) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_sealed=key.private_sealed,
                    public_jwk=key.public_jwk,
                    created_at=key.created_at,
                    activates_at=key.activates_at,
                    retired_at=key.retired_at,
                    expires_at=key.expires_at,
                )
            )

    async def unexpired(self) -> list[StoredKey]:
        """Keys still needed to sign or verify, oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(signing_keys)
                    .where(
                        or_(
                            signing_keys.c.expires_at.is_(None),
                            signing_keys.c.expires_at > clock.now(),
                        )
                    )
                    .order_by(signing_keys.c.activates_at)
                )
            ).all()
        return [StoredKey(**r._mapping) for r in rows]

    async def all(self) -> list[StoredKey]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at))
            ).all()
        return [StoredKey(**r._mapping) for r in rows]

    async def retire(self, kid: str, *, retired_at: int, expires_at: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == kid, signing_keys.c.retired_at.is_(None))
                .values(retired_at=retired_at, expires_at=expires_at)
            )
