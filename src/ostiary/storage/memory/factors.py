"""Second factors and recovery codes in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ostiary import clock
from ostiary.domain.mfa import Factor
from ostiary.storage.memory.tables import Tables


class MemoryFactors:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, factor: Factor) -> None:
        clash = factor.credential_id is not None and any(
            f.credential_id == factor.credential_id for f in self._t.factors.values()
        )
        if factor.id in self._t.factors or clash:
            raise ValueError("that factor is stored already")
        self._t.factors[factor.id] = factor

    async def get(self, factor_id: str) -> Factor | None:
        return self._t.factors.get(factor_id)

    async def for_user(self, user_id: str) -> list[Factor]:
        mine = [f for f in self._t.factors.values() if f.user_id == user_id]
        return sorted(mine, key=lambda f: (f.created_at, f.id))

    async def by_credential(self, credential_id: bytes) -> Factor | None:
        return next((f for f in self._t.factors.values() if f.credential_id == credential_id), None)

    def _change(self, factor_id: str, **changes: Any) -> None:
        self._t.factors[factor_id] = dataclasses.replace(self._t.factors[factor_id], **changes)

    async def confirm(self, factor_id: str, *, last_step: int) -> bool:
        factor = self._t.factors.get(factor_id)
        if factor is None or factor.confirmed:
            return False
        self._change(factor_id, confirmed=True, last_step=last_step, last_used_at=clock.now())
        return True

    async def use_step(self, factor_id: str, step: int) -> bool:
        factor = self._t.factors.get(factor_id)
        if factor is None or not factor.confirmed:
            return False
        if factor.last_step is not None and factor.last_step >= step:
            return False
        self._change(factor_id, last_step=step, last_used_at=clock.now())
        return True

    async def use_passkey(self, factor_id: str, *, sign_count: int, backup_state: bool) -> None:
        if factor_id in self._t.factors:
            self._change(
                factor_id,
                sign_count=sign_count,
                backup_state=backup_state,
                last_used_at=clock.now(),
            )

    async def rename(self, factor_id: str, user_id: str, name: str) -> bool:
        factor = self._t.factors.get(factor_id)
        if factor is None or factor.user_id != user_id:
            return False
        self._change(factor_id, name=name)
        return True

    async def delete(self, factor_id: str, user_id: str) -> bool:
        factor = self._t.factors.get(factor_id)
        if factor is None or factor.user_id != user_id:
            return False
        del self._t.factors[factor_id]
        return True

    async def delete_for_user(self, user_id: str) -> int:
        self._drop_codes(user_id)
        return self._t.drop("factors", lambda f: f.user_id == user_id)

    def _drop_codes(self, user_id: str) -> None:
        codes = self._t.recovery_codes
        self._t.recovery_codes = {k: v for k, v in codes.items() if k[0] != user_id}

    async def set_recovery_codes(self, user_id: str, code_hashes: Sequence[bytes]) -> None:
        self._drop_codes(user_id)
        for code_hash in code_hashes:
            self._t.recovery_codes[user_id, code_hash] = None

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> int | None:
        key = (user_id, code_hash)
        if key not in self._t.recovery_codes or self._t.recovery_codes[key] is not None:
            return None
        self._t.recovery_codes[key] = clock.now()
        return await self.recovery_codes_left(user_id)

    async def recovery_codes_left(self, user_id: str) -> int:
        codes = self._t.recovery_codes
        return sum(1 for (owner, _), used in codes.items() if owner == user_id and used is None)

    async def purge_unconfirmed(self, seconds: int) -> int:
        cutoff = clock.now() - seconds
        return self._t.drop("factors", lambda f: not f.confirmed and f.created_at < cutoff)
