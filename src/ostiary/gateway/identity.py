"""Who a request is from once verified, what the rule asks of them, and the identity
headers the upstream receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ostiary.gateway.rules import Rule
from ostiary.resource import Claims, InsufficientScope


@dataclass(frozen=True)
class Identity:
    claims: Claims  # the verified access token
    profile: Mapping[str, Any] = field(default_factory=dict)  # ID token claims (browser)

    def headers(self) -> dict[str, str]:
        """X-Forwarded-User/Email/Groups/Roles from verified claims only."""
        values: dict[str, str] = {}
        sub = self.claims.sub
        if sub:
            values["x-forwarded-user"] = sub
        email = self.profile.get("email", self.claims.raw.get("email"))
        if isinstance(email, str):
            values["x-forwarded-email"] = email
        username = self.profile.get("preferred_username")
        if isinstance(username, str):
            values["x-forwarded-preferred-username"] = username
        if self.claims.groups:
            values["x-forwarded-groups"] = ",".join(sorted(self.claims.groups))
        if self.claims.roles:
            values["x-forwarded-roles"] = ",".join(sorted(self.claims.roles))
        return values


def authorise(rule: Rule, claims: Claims) -> None:
    """RFC 6750 §3.1: a valid token that lacks what the rule names is insufficient_scope."""
    # The refusal goes in the challenge of the scheme the token came with (RFC 9449 §7.1).
    if not rule.scopes <= claims.scopes:
        raise InsufficientScope(sorted(rule.scopes)).presented(claims.scheme)
    if not rule.roles <= claims.roles:
        # RFC 6750 has no code for roles; insufficient_scope is the nearest (403).
        refusal = InsufficientScope((), "the token lacks the required role")
        raise refusal.presented(claims.scheme)
