"""Second factors and recovery codes (``domain.mfa``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from ostiary import clock
from ostiary.domain.mfa import Factor
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.tables import mfa_factors as mf
from ostiary.storage.tables import recovery_codes as rc


def _factor(row: Any) -> Factor:
    transports = row[13]
    if isinstance(transports, str):  # JSON as text on SQLite's driver
        transports = json.loads(transports)
    return Factor(
        id=row[0],
        user_id=row[1],
        kind=row[2],
        name=row[3],
        created_at=row[4],
        last_used_at=row[5],
        confirmed=bool(row[6]),
        secret=row[7],
        last_step=row[8],
        credential_id=row[9],
        public_key=row[10],
        sign_count=row[11],
        backup_eligible=bool(row[12]),
        transports=tuple(transports or ()),
        backup_state=bool(row[14]),
        discoverable=bool(row[15]),
    )


FACTOR = RowType(
    mf,
    (
        "id",
        "user_id",
        "kind",
        "name",
        "created_at",
        "last_used_at",
        "confirmed",
        "secret",
        "last_step",
        "credential_id",
        "public_key",
        "sign_count",
        "backup_eligible",
        "transports",
        "backup_state",
        "discoverable",
    ),
    _factor,
)


class FactorRepository(Repository):
    async def add(self, factor: Factor) -> None:
        values = FACTOR.values(factor)
        values["transports"] = list(factor.transports)
        await self._write(insert(mf).values(**values))

    async def get(self, factor_id: str) -> Factor | None:
        row = await self._first(FACTOR.select().where(mf.c.id == factor_id))
        return FACTOR.build(row) if row else None

    async def for_user(self, user_id: str) -> list[Factor]:
        rows = await self._rows(
            FACTOR.select().where(mf.c.user_id == user_id).order_by(mf.c.created_at, mf.c.id)
        )
        return FACTOR.all(rows)

    async def by_credential(self, credential_id: bytes) -> Factor | None:
        row = await self._first(FACTOR.select().where(mf.c.credential_id == credential_id))
        return FACTOR.build(row) if row else None

    async def confirm(self, factor_id: str, *, last_step: int) -> bool:
        """The TOTP secret counts from now on, its confirming code's step used."""
        return (
            await self._write(
                update(mf)
                .where(mf.c.id == factor_id, mf.c.confirmed.is_(False))
                .values(confirmed=True, last_step=last_step, last_used_at=clock.now())
            )
            == 1
        )

    async def use_step(self, factor_id: str, step: int) -> bool:
        # One conditional write: two requests presenting the same code race to it and
        # exactly one wins (RFC 6238 §5.2: a code is accepted once).
        unused = (mf.c.last_step.is_(None)) | (mf.c.last_step < step)
        return (
            await self._write(
                update(mf)
                .where(mf.c.id == factor_id, mf.c.confirmed.is_(True), unused)
                .values(last_step=step, last_used_at=clock.now())
            )
            == 1
        )

    async def use_passkey(self, factor_id: str, *, sign_count: int, backup_state: bool) -> None:
        await self._write(
            update(mf)
            .where(mf.c.id == factor_id)
            .values(sign_count=sign_count, backup_state=backup_state, last_used_at=clock.now())
        )

    async def rename(self, factor_id: str, user_id: str, name: str) -> bool:
        statement = update(mf).where(mf.c.id == factor_id, mf.c.user_id == user_id)
        return await self._write(statement.values(name=name)) == 1

    async def delete(self, factor_id: str, user_id: str) -> bool:
        statement = delete(mf).where(mf.c.id == factor_id, mf.c.user_id == user_id)
        return await self._write(statement) == 1

    async def delete_for_user(self, user_id: str) -> int:
        async with self._engine.begin() as conn:
            await conn.execute(delete(rc).where(rc.c.user_id == user_id))
            result = await conn.execute(delete(mf).where(mf.c.user_id == user_id))
        return int(result.rowcount)

    async def set_recovery_codes(self, user_id: str, code_hashes: Sequence[bytes]) -> None:
        now = clock.now()
        async with self._engine.begin() as conn:
            await conn.execute(delete(rc).where(rc.c.user_id == user_id))
            if code_hashes:
                await conn.execute(
                    insert(rc),
                    [{"user_id": user_id, "code_hash": h, "created_at": now} for h in code_hashes],
                )

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> int | None:
        async with self._engine.begin() as conn:
            used = await conn.execute(
                update(rc)
                .where(rc.c.user_id == user_id, rc.c.code_hash == code_hash, rc.c.used_at.is_(None))
                .values(used_at=clock.now())
            )
            if used.rowcount != 1:
                return None
            left = await conn.execute(_left(user_id))
        return int(left.scalar_one())

    async def recovery_codes_left(self, user_id: str) -> int:
        row = await self._first(_left(user_id))
        return int(row[0]) if row else 0

    async def purge_unconfirmed(self, seconds: int) -> int:
        stale = (mf.c.confirmed.is_(False)) & (mf.c.created_at < clock.now() - seconds)
        return await self._write(delete(mf).where(stale))


def _left(user_id: str) -> Any:
    return select(func.count()).where(rc.c.user_id == user_id, rc.c.used_at.is_(None))
