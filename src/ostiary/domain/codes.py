"""Authorization codes (RFC 6749 §4.1.2) and what redeeming one finds."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ostiary.domain.access import Gates
from ostiary.domain.tokens import NewRefreshToken
from ostiary.domain.users import User


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    code_hash: bytes
    client_id: str
    user_id: str
    session_hash: bytes | None
    redirect_uri: str
    redirect_uri_given: bool
    scopes: tuple[str, ...]
    code_challenge: str | None
    auth_time: int
    nonce: str | None
    sid: str | None
    acr: str | None
    amr: list[str] | None
    claims: dict[str, Any] | None
    expires_at: int
    consumed_at: int | None
    replayed_at: int | None
    family_id: str | None
    access_jti: str | None
    access_expires_at: int | None
    # The DPoP key the code is bound to (RFC 9449 §10: {"jkt": dpop_jkt}) and the
    # resources the authorization request named (RFC 8707 §2.1), if any.
    cnf: dict[str, Any] | None = None
    resources: list[str] | None = None


@dataclass(frozen=True, slots=True)
class CodeState:
    """A code with, read in the same statement, what its redemption depends on."""

    code: AuthorizationCode
    # None: the user row is gone.
    user: User | None
    # When the code's SSO session ends (None: no session, or it is gone).
    session_expires_at: int | None
    gates: Gates

    def session_ended(self, now: int) -> bool:
        if self.code.sid is None:
            return False
        return self.session_expires_at is None or self.session_expires_at <= now


class Redemption(Protocol):
    """What redeeming a code issues, as the statement that consumes the code records it (a
    replay then revokes the access token and the refresh token's family)."""

    @property
    def access_jti(self) -> str: ...

    @property
    def access_expires_at(self) -> int: ...

    @property
    def refresh(self) -> NewRefreshToken | None: ...


class Refused(enum.Enum):
    """Why a code was not redeemed."""

    # No such code, or it was issued to another client.
    UNKNOWN = "unknown"
    # Consumed already, or by a request that raced this one.
    REPLAYED = "replayed"


R = TypeVar("R", bound=Redemption)
# Decides a redemption from a live, unconsumed code of the requesting client: checks what
# the token request must satisfy (raising the OAuth error if it does not) and returns what
# to issue. May be called twice for one request (``Codes.redeem``).
Decide = Callable[[CodeState], Awaitable[R]]
