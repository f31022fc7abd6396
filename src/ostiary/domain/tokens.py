"""Refresh tokens and access-token records as the grants and endpoints see them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ostiary.domain.access import Gates
from ostiary.domain.users import User


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: bytes
    family_id: str
    client_id: str
    user_id: str | None
    scopes: tuple[str, ...]
    auth_time: int | None
    created_at: int
    expires_at: int
    sid: str | None
    acr: str | None
    amr: list[str] | None
    claims: dict[str, Any] | None
    used_at: int | None
    revoked_at: int | None
    access_jti: str | None
    access_expires_at: int | None
    # The key it is bound to (RFC 9449 §5: {"jkt": ...}) and the resources it was granted
    # for (RFC 8707 §2.2), if any.
    cnf: dict[str, Any] | None = None
    resources: list[str] | None = None


@dataclass(frozen=True, slots=True)
class TokenState:
    """A refresh token with, read in the same statement, the state its use depends on."""

    token: RefreshToken
    # The token's user (None: no user, or the row is gone).
    user: User | None
    # When the token's SSO session ends (None: no session, or it is gone).
    session_expires_at: int | None
    # Which of its scopes a role gates, and the roles that may hold them.
    gates: Gates

    def user_inactive(self) -> bool:
        return self.token.user_id is not None and (self.user is None or self.user.disabled)

    def session_ended(self, now: int) -> bool:
        if self.token.sid is None:
            return False
        return self.session_expires_at is None or self.session_expires_at <= now


@dataclass(frozen=True, slots=True)
class Introspected:
    """What introspection needs of a refresh token (RFC 7662 §2.2), read in one statement:
    the fields it reports and what decides whether the token endpoint would accept it."""

    client_id: str
    user_id: str | None
    scopes: list[str]
    created_at: int
    expires_at: int
    spent: bool  # used for a rotation, or revoked
    username: str | None
    user_inactive: bool  # its user is gone or disabled
    session_end: int | None  # when its SSO session ends (None: gone); unused without sid
    bound_to_session: bool

    def session_ended(self, now: int) -> bool:
        return self.bound_to_session and (self.session_end is None or self.session_end <= now)


@dataclass(frozen=True, slots=True)
class NewRefreshToken:
    token_hash: bytes
    family_id: str
    client_id: str
    user_id: str | None
    scopes: list[str]
    auth_time: int | None
    ttl: int
    access_jti: str
    access_expires_at: int
    sid: str | None = None
    acr: str | None = None
    amr: list[str] | None = None
    claims: dict[str, Any] | None = None
    cnf: dict[str, Any] | None = None
    resources: list[str] | None = None


@dataclass(frozen=True, slots=True)
class RevokedAccess:
    """Access-token ids that went with revoked refresh tokens, to put on the deny list."""

    jti: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class AccessTokenState:
    """What a JWT access token's liveness depends on, read in one statement."""

    revoked: bool
    # None: no user asked for, or the row is gone.
    user: User | None
    # None: no session asked for, or the row is gone.
    session_expires_at: int | None

    @property
    def user_active(self) -> bool:
        return self.user is not None and not self.user.disabled


@dataclass(frozen=True, slots=True)
class AccessTokenBrief:
    """``AccessTokenState`` without the user's profile: what introspection reports."""

    revoked: bool
    # None: no user asked for, or the row is gone.
    username: str | None
    user_disabled: bool
    session_expires_at: int | None

    @property
    def user_active(self) -> bool:
        return self.username is not None and not self.user_disabled
