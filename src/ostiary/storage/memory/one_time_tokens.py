"""Password-reset and email-verification tokens in memory: single use, short lived."""

from __future__ import annotations

import dataclasses

from ostiary import clock
from ostiary.domain.one_time_tokens import OneTimeToken
from ostiary.storage.memory.tables import Tables


class MemoryOneTimeTokens:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(
        self, *, token_hash: bytes, user_id: str, purpose: str, ttl: int, email: str | None = None
    ) -> None:
        if token_hash in self._t.one_time_tokens:
            raise ValueError("that token is stored already")
        now = clock.now()
        token = OneTimeToken(token_hash, user_id, purpose, email, now, now + ttl, None)
        self._t.one_time_tokens[token_hash] = token

    async def peek(self, token_hash: bytes, purpose: str) -> OneTimeToken | None:
        token = self._t.one_time_tokens.get(token_hash)
        live = (
            token is not None
            and token.purpose == purpose
            and token.used_at is None
            and token.expires_at > clock.now()
        )
        return token if live else None

    async def use(self, token_hash: bytes, purpose: str) -> OneTimeToken | None:
        token = await self.peek(token_hash, purpose)
        if token is None:
            return None
        used = self._t.one_time_tokens[token_hash] = dataclasses.replace(token, used_at=clock.now())
        return used

    async def drop_for_user(self, user_id: str, purpose: str) -> None:
        self._t.drop("one_time_tokens", lambda x: x.user_id == user_id and x.purpose == purpose)

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop(
            "one_time_tokens", lambda x: x.expires_at < now or x.used_at is not None
        )
