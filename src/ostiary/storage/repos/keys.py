"""Signing keys: private halves sealed at rest, public JWKs kept until tokens expire."""

from __future__ import annotations

from sqlalchemy import insert, or_, update

from ostiary import clock
from ostiary.domain.keys import StoredKey
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.tables import signing_keys

KEY = RowType.of(signing_keys, StoredKey)


class KeyRepository(Repository):
    async def add(self, key: StoredKey) -> None:
        await self._write(insert(signing_keys).values(**KEY.values(key)))

    async def unexpired(self) -> list[StoredKey]:
        """Keys still needed to sign or verify, oldest first."""
        query = (
            KEY.select()
            .where(
                or_(signing_keys.c.expires_at.is_(None), signing_keys.c.expires_at > clock.now())
            )
            .order_by(signing_keys.c.activates_at)
        )
        return KEY.all(await self._rows(query))

    async def all(self) -> list[StoredKey]:
        return KEY.all(await self._rows(KEY.select().order_by(signing_keys.c.created_at)))

    async def retire(self, kid: str, *, retired_at: int, expires_at: int) -> None:
        await self._write(
            update(signing_keys)
            .where(signing_keys.c.kid == kid, signing_keys.c.retired_at.is_(None))
            .values(retired_at=retired_at, expires_at=expires_at)
        )
