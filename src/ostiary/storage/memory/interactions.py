"""Pending authorization requests in memory, single use like the SQL ones."""

from __future__ import annotations

import dataclasses
from typing import Any

from ostiary import clock
from ostiary.domain.interactions import Interaction, InteractionState, LoginReads, MfaReads
from ostiary.storage.memory.access import MemoryAccess
from ostiary.storage.memory.tables import Tables
from ostiary.storage.memory.throttles import state_of


class MemoryInteractions:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, interaction: Interaction) -> list[tuple[str, str]]:
        if interaction.id in self._t.interactions:
            raise ValueError(f"interaction {interaction.id!r} exists")
        self._t.interactions[interaction.id] = interaction
        return list(self._t.buttons)

    async def get_live(self, interaction_id: str) -> Interaction | None:
        found = self._t.interactions.get(interaction_id)
        return found if found is not None and found.expires_at > clock.now() else None

    async def state(self, interaction_id: str) -> InteractionState | None:
        found = await self.get_live(interaction_id)
        if found is None:
            return None
        gates = self._t.gates(found.request.get("scopes") or ())
        return InteractionState(found, gates, list(self._t.buttons))

    async def login_state(
        self, interaction_id: str, keys: list[str], username: str | None
    ) -> LoginReads:
        account = self._t.user_named(username) if username is not None else None
        throttle = state_of(self._t, keys)
        mfa = None
        if account is not None:
            factors = self._t.factors.values()
            kinds = tuple(f.kind for f in factors if f.user_id == account.id and f.confirmed)
            required = bool(await MemoryAccess(self._t).mfa_required_by(account.id))
            mfa = MfaReads(kinds, required)
        return LoginReads(await self.state(interaction_id), throttle, account, mfa)

    async def set_pending(
        self, interaction_id: str, user_id: str | None, pending: dict[str, Any] | None
    ) -> None:
        found = self._t.interactions.get(interaction_id)
        if found is not None:
            changed = dataclasses.replace(found, pending_user_id=user_id, pending=pending)
            self._t.interactions[interaction_id] = changed

    async def take_challenge(
        self, interaction_id: str, challenge: str, rest: dict[str, Any] | None
    ) -> bool:
        found = await self.get_live(interaction_id)
        if found is None or (found.pending or {}).get("challenge") != challenge:
            return False
        self._t.interactions[interaction_id] = dataclasses.replace(found, pending=rest)
        return True

    async def mark_authenticated(self, interaction_id: str) -> None:
        found = self._t.interactions.get(interaction_id)
        if found is not None:
            self._t.interactions[interaction_id] = dataclasses.replace(
                found, authenticated=True, pending_user_id=None, pending=None
            )

    async def delete(self, interaction_id: str) -> bool:
        return self._t.interactions.pop(interaction_id, None) is not None

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop("interactions", lambda i: i.expires_at < now)
