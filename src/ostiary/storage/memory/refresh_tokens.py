"""Refresh tokens in memory: rotated once each, revoked by family (RFC 9700 §4.14.2)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ostiary import clock
from ostiary.domain.tokens import (
    Introspected,
    NewRefreshToken,
    RefreshToken,
    RevokedAccess,
    TokenState,
)
from ostiary.domain.users import User
from ostiary.storage.memory.tables import Tables


def store_token(tables: Tables, new: NewRefreshToken) -> None:
    """Add a new refresh token, created now."""
    if new.token_hash in tables.refresh_tokens:
        raise ValueError("that refresh token is stored already")
    now = clock.now()
    tables.refresh_tokens[new.token_hash] = RefreshToken(
        new.token_hash, new.family_id, new.client_id, new.user_id, tuple(new.scopes),
        new.auth_time, now, now + new.ttl, new.sid, new.acr, new.amr, new.claims,
        None, None, new.access_jti, new.access_expires_at, new.cnf, new.resources,
    )  # fmt: skip


class MemoryRefreshTokens:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def insert(self, token: NewRefreshToken) -> None:
        store_token(self._t, token)

    async def get(self, token_hash: bytes) -> RefreshToken | None:
        return self._t.refresh_tokens.get(token_hash)

    def _with_user(self, token_hash: bytes) -> tuple[RefreshToken, User | None] | None:
        token = self._t.refresh_tokens.get(token_hash)
        if token is None:
            return None
        return token, self._t.users.get(token.user_id) if token.user_id is not None else None

    async def state(self, token_hash: bytes) -> TokenState | None:
        found = self._with_user(token_hash)
        if found is None:
            return None
        (token, user), t = found, self._t
        return TokenState(token, user, t.session_end(token.sid), t.gates(token.scopes))

    async def introspected(self, token_hash: bytes) -> Introspected | None:
        found = self._with_user(token_hash)
        if found is None:
            return None
        token, user = found
        return Introspected(
            token.client_id,
            token.user_id,
            list(token.scopes),
            token.created_at,
            token.expires_at,
            token.used_at is not None or token.revoked_at is not None,
            user.username if user is not None else None,
            token.user_id is not None and (user is None or user.disabled),
            self._t.session_end(token.sid),
            token.sid is not None,
        )

    async def rotate(self, old_hash: bytes, new: NewRefreshToken) -> bool:
        """Claim the old token (unused and unrevoked) and store its successor of the same
        family: both or, when the claim fails, neither."""
        old = self._t.refresh_tokens.get(old_hash)
        if old is None or old.used_at is not None or old.revoked_at is not None:
            return False
        self._t.refresh_tokens[old_hash] = dataclasses.replace(old, used_at=clock.now())
        if old.family_id != new.family_id:
            return False
        store_token(self._t, new)
        return True

    async def revoke_family(self, family_id: str) -> list[RevokedAccess]:
        return self._revoke_where(lambda t: t.family_id == family_id)

    async def revoke_for_session(self, sid: str) -> list[RevokedAccess]:
        return self._revoke_where(lambda t: t.sid == sid)

    async def revoke_for_user(self, user_id: str) -> list[RevokedAccess]:
        return self._revoke_where(lambda t: t.user_id == user_id)

    async def revoke_for_client(self, client_id: str) -> list[RevokedAccess]:
        return self._revoke_where(lambda t: t.client_id == client_id)

    def _revoke_where(self, matches: Callable[[RefreshToken], bool]) -> list[RevokedAccess]:
        """Revoke the matching tokens; the live access-token ids any of them issued."""
        now = clock.now()
        tokens = self._t.refresh_tokens
        denied = []
        for token_hash, token in list(tokens.items()):
            if not matches(token):
                continue
            if token.revoked_at is None:
                tokens[token_hash] = dataclasses.replace(token, revoked_at=now)
            if token.access_jti is not None and (token.access_expires_at or 0) > now:
                denied.append(RevokedAccess(token.access_jti, token.access_expires_at or 0))
        return denied

    async def delete_for_client(self, client_id: str) -> int:
        return self._t.drop("refresh_tokens", lambda t: t.client_id == client_id)

    async def purge_expired(self) -> int:
        now = clock.now()
        return self._t.drop("refresh_tokens", lambda t: t.expires_at < now)
