"""The rows of one in-memory store, shared by its repositories as the tables are by SQL ones.

A read that joins aggregates (a code with its user, its session's end and its scopes' role
gates) reads the same dicts here that the SQL statement reads there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from ostiary.domain import identifiers
from ostiary.domain.access import Gates, Group, Role, Scope
from ostiary.domain.audit import AuditEvent
from ostiary.domain.clients import Client
from ostiary.domain.codes import AuthorizationCode
from ostiary.domain.interactions import Interaction
from ostiary.domain.keys import StoredKey
from ostiary.domain.mfa import Factor
from ostiary.domain.one_time_tokens import OneTimeToken
from ostiary.domain.resources import Resource
from ostiary.domain.revocation import RevocationEvent
from ostiary.domain.sessions import LogoutFailure, Session
from ostiary.domain.tokens import RefreshToken
from ostiary.domain.users import User


@dataclass
class ThrottleRecord:
    failures: int
    last_failure_at: int
    locked_until: int


@dataclass(frozen=True)
class PushedRequest:
    """A pushed authorization request (RFC 9126): its client, parameters and expiry."""

    client_id: str
    params: dict[str, str]
    expires_at: int


@dataclass
class Tables:
    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, StoredKey] = field(default_factory=dict)
    sessions: dict[bytes, Session] = field(default_factory=dict)
    # (sid, client_id): the session gave tokens to the client (for logout).
    session_clients: set[tuple[str, str]] = field(default_factory=set)
    logout_failures: list[LogoutFailure] = field(default_factory=list)
    interactions: dict[str, Interaction] = field(default_factory=dict)
    consents: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    codes: dict[bytes, AuthorizationCode] = field(default_factory=dict)
    refresh_tokens: dict[bytes, RefreshToken] = field(default_factory=dict)
    # jti -> when the token would have expired.
    revoked: dict[str, int] = field(default_factory=dict)
    revocation_events: list[RevocationEvent] = field(default_factory=list)
    roles: dict[str, Role] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    # Links to the federation provider whose claim mapping made them (None: given by hand).
    user_roles: dict[tuple[str, str], str | None] = field(default_factory=dict)
    group_members: dict[tuple[str, str], str | None] = field(default_factory=dict)
    group_roles: set[tuple[str, str]] = field(default_factory=set)
    # (child_id, parent_id)
    group_parents: set[tuple[str, str]] = field(default_factory=set)
    scopes: dict[str, Scope] = field(default_factory=dict)
    # (scope, role): the scope is granted only to holders of one of its roles.
    scope_roles: set[tuple[str, str]] = field(default_factory=set)
    audit: list[AuditEvent] = field(default_factory=list)
    throttles: dict[str, ThrottleRecord] = field(default_factory=dict)
    # (key, window_start) -> (hits, expires_at)
    rate_limits: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    one_time_tokens: dict[bytes, OneTimeToken] = field(default_factory=dict)
    # By digest of the request_uri.
    pushed_authorizations: dict[bytes, PushedRequest] = field(default_factory=dict)
    # key digest -> expires_at
    used_jtis: dict[bytes, int] = field(default_factory=dict)
    # Protected resources (RFC 8707) by URI.
    resources: dict[str, Resource] = field(default_factory=dict)
    factors: dict[str, Factor] = field(default_factory=dict)
    # (user_id, code_hash) -> when it was used (None: unused).
    recovery_codes: dict[tuple[str, bytes], int | None] = field(default_factory=dict)
    # (name, display name) of the enabled upstream providers: the login page's buttons.
    buttons: list[tuple[str, str]] = field(default_factory=list)
    # Row ids of the append-only tables (audit, feed, logout failures), as a sequence.
    ids: count[int] = field(default_factory=lambda: count(1))

    def drop(self, table: str, matches: Callable[[Any], bool]) -> int:
        """Delete the rows of ``table`` (the values of a dict, or a list's items) that
        ``matches``; how many went."""
        rows = getattr(self, table)
        if isinstance(rows, dict):
            kept: Any = {k: v for k, v in rows.items() if not matches(v)}
        else:
            kept = [v for v in rows if not matches(v)]
        setattr(self, table, kept)
        return len(rows) - len(kept)

    def gates(self, scopes: Iterable[str]) -> Gates:
        """Which of ``scopes`` a role gates, and the roles that may have each."""
        wanted = set(scopes)
        gates: dict[str, set[str]] = {}
        for scope, role in self.scope_roles:
            if scope in wanted:
                gates.setdefault(scope, set()).add(role)
        return {scope: frozenset(roles) for scope, roles in gates.items()}

    def session_end(self, sid: str | None) -> int | None:
        """When the SSO session ``sid`` ends (None: no sid, or no such session)."""
        ends = [s.expires_at for s in self.sessions.values() if sid is not None and s.sid == sid]
        return max(ends, default=None)

    def user_named(self, name_key: str) -> User | None:
        """The account whose username's comparison form is ``name_key``."""
        return next(
            (u for u in self.users.values() if identifiers.username_key(u.username) == name_key),
            None,
        )

    def email_holders(self, email: str, other_than: str | None = None) -> list[str]:
        """Ids of the accounts holding ``email`` in any case (the unique index's rule)."""
        folded = email.lower()
        return [
            u.id
            for u in self.users.values()
            if u.email is not None and u.email.lower() == folded and u.id != other_than
        ]

    def drop_user(self, user_id: str) -> bool:
        """Delete a user and what the foreign keys cascade to (and its refresh tokens)."""
        self.drop("refresh_tokens", lambda t: t.user_id == user_id)
        if self.users.pop(user_id, None) is None:
            return False
        self.drop("sessions", lambda s: s.user_id == user_id)
        self.drop("one_time_tokens", lambda t: t.user_id == user_id)
        self.drop("factors", lambda f: f.user_id == user_id)
        self.recovery_codes = {k: v for k, v in self.recovery_codes.items() if k[0] != user_id}
        self.consents = {k: v for k, v in self.consents.items() if k[0] != user_id}
        self.user_roles = {k: v for k, v in self.user_roles.items() if k[0] != user_id}
        self.group_members = {k: v for k, v in self.group_members.items() if k[1] != user_id}
        return True
