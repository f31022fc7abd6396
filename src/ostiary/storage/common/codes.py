"""Adding an authorization code, as both code repositories take it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ostiary import clock
from ostiary.domain.codes import AuthorizationCode
from ostiary.domain.users import User

# A code's user and when its session ends, for a repository that keeps the codes it issues
# (None: the code is not to be kept).
Remembered = tuple[User, int] | None


class AddsCodes(ABC):
    """``Codes.add``: the code as the domain holds it, stored by ``_store``."""

    async def add(
        self,
        *,
        code_hash: bytes,
        client_id: str,
        user_id: str,
        session_hash: bytes | None,
        redirect_uri: str,
        redirect_uri_given: bool,
        scopes: list[str],
        code_challenge: str | None,
        auth_time: int,
        ttl: int,
        nonce: str | None = None,
        sid: str | None = None,
        acr: str | None = None,
        amr: list[str] | None = None,
        claims: dict[str, Any] | None = None,
        interaction_id: str | None = None,
        remember: Remembered = None,
        cnf: dict[str, Any] | None = None,
        resources: list[str] | None = None,
    ) -> bool:
        now = clock.now()
        code = AuthorizationCode(
            code_hash, client_id, user_id, session_hash, redirect_uri, redirect_uri_given,
            tuple(scopes), code_challenge, auth_time, nonce, sid, acr, amr, claims,
            now + ttl, None, None, None, None, None, cnf, resources,
        )  # fmt: skip
        return await self._store(code, now, interaction_id, remember)

    @abstractmethod
    async def _store(
        self, code: AuthorizationCode, now: int, interaction_id: str | None, remember: Remembered
    ) -> bool: ...
