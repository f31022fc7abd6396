"""Authorization codes in memory: single use, and a replay finds what the first use issued.

The SQL repository remembers the codes its worker issued, to redeem them without reading
them back; here every read is free, so ``remember`` is accepted and not needed.
"""

from __future__ import annotations

import dataclasses

from ostiary import clock
from ostiary.domain.codes import AuthorizationCode, CodeState, Decide, R, Redemption, Refused
from ostiary.storage.common.codes import AddsCodes, Remembered
from ostiary.storage.memory.refresh_tokens import store_token
from ostiary.storage.memory.tables import Tables


class MemoryCodes(AddsCodes):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def state(self, code_hash: bytes) -> CodeState | None:
        t = self._t
        code = t.codes.get(code_hash)
        if code is None:
            return None
        return CodeState(
            code, t.users.get(code.user_id), t.session_end(code.sid), t.gates(code.scopes)
        )

    async def redeem(self, code_hash: bytes, client_id: str, decide: Decide[R]) -> R | Refused:
        state = await self.state(code_hash)
        # RFC 6749 §4.1.3: a code of another client is no code at all to this one.
        if state is None or state.code.client_id != client_id:
            return Refused.UNKNOWN
        if state.code.consumed_at is None:
            redemption = await decide(state)
            # ``decide`` awaited: a request racing this one may have consumed the code since.
            if self._consume(code_hash, redemption):
                return redemption
        return Refused.REPLAYED

    def _consume(self, code_hash: bytes, issued: Redemption) -> bool:
        """Consume the code, record what it issued and store the refresh token (if any)."""
        code = self._t.codes.get(code_hash)
        if code is None or code.consumed_at is not None:
            return False
        refresh = issued.refresh
        self._t.codes[code_hash] = dataclasses.replace(
            code,
            consumed_at=clock.now(),
            family_id=refresh.family_id if refresh is not None else None,
            access_jti=issued.access_jti,
            access_expires_at=issued.access_expires_at,
        )
        if refresh is not None:
            store_token(self._t, refresh)
        return True

    async def _store(
        self, code: AuthorizationCode, now: int, interaction_id: str | None, remember: Remembered
    ) -> bool:
        t = self._t
        # An interaction yields one code at most: it is consumed with the code's write.
        if interaction_id is not None and t.interactions.pop(interaction_id, None) is None:
            return False
        if code.code_hash in t.codes:
            raise ValueError("that code is stored already")
        t.codes[code.code_hash] = code
        if code.sid is not None:
            t.session_clients.add((code.sid, code.client_id))
        return True

    async def mark_replayed(self, code_hash: bytes) -> AuthorizationCode | None:
        code = self._t.codes.get(code_hash)
        if code is None:
            return None
        code = self._t.codes[code_hash] = dataclasses.replace(code, replayed_at=clock.now())
        return code

    async def issued_for_session(self, sid: str) -> list[tuple[str, int]]:
        now = clock.now()
        return [
            (c.access_jti, c.access_expires_at)
            for c in self._t.codes.values()
            if c.sid == sid
            and c.access_jti is not None
            and c.access_expires_at is not None
            and c.access_expires_at > now
        ]

    async def discard_unredeemed_for_client(self, client_id: str) -> int:
        now = clock.now()
        return self._t.drop(
            "codes",
            lambda c: c.client_id == client_id and c.consumed_at is None and c.expires_at > now,
        )

    async def purge_expired(self, keep_seconds: int = 3600) -> int:
        # Kept a while past expiry, so that replays are still detected.
        cutoff = clock.now() - keep_seconds
        return self._t.drop("codes", lambda c: c.expires_at < cutoff)
