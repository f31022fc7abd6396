"""Signing keys in memory."""

from __future__ import annotations

import dataclasses

from ostiary import clock
from ostiary.domain.keys import StoredKey
from ostiary.storage.memory.tables import Tables


class MemoryKeys:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, key: StoredKey) -> None:
        if key.kid in self._t.keys:
            raise ValueError(f"key {key.kid!r} exists")
        self._t.keys[key.kid] = key

    async def unexpired(self) -> list[StoredKey]:
        now = clock.now()
        live = [k for k in self._t.keys.values() if k.expires_at is None or k.expires_at > now]
        return sorted(live, key=lambda k: k.activates_at)

    async def all(self) -> list[StoredKey]:
        return sorted(self._t.keys.values(), key=lambda k: k.created_at)

    async def retire(self, kid: str, *, retired_at: int, expires_at: int) -> None:
        key = self._t.keys.get(kid)
        if key is not None and key.retired_at is None:
            self._t.keys[kid] = dataclasses.replace(
                key, retired_at=retired_at, expires_at=expires_at
            )
