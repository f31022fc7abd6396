"""Role-gated scopes for a token whose gates were read with the token itself (no extra read).

The rule of ``accounts.access.grantable`` (a gated scope needs one of its roles; an
ungated scope is open to every user), plus the roles/groups claims for clients registered
for them (RFC 9068 §2.2.3.1); the gates come from the refresh token's or code's own
statement, so only a gated scope or a roles/groups client costs a second query (the
user's roles).
"""

from __future__ import annotations

from typing import Any

from ostiary.domain.access import Gates
from ostiary.domain.clients import Client
from ostiary.tokens.deps import HasStore


async def for_token(
    services: HasStore, client: Client, user_id: str, scopes: frozenset[str], gates: Gates
) -> tuple[frozenset[str], dict[str, Any]]:
    """The scopes to grant and the roles/groups claims, for one token."""
    requirements = {scope: roles for scope, roles in gates.items() if scope in scopes}
    wanted = client.include_roles or client.include_groups
    effective = await services.store.access.effective(user_id) if requirements or wanted else None
    claims: dict[str, Any] = {}
    if effective is not None and client.include_roles:
        claims["roles"] = sorted(effective.roles)
    if effective is not None and client.include_groups:
        claims["groups"] = sorted(effective.groups)
    if not requirements:
        return scopes, claims
    held = effective.roles if effective is not None else frozenset()
    allowed = frozenset(s for s in scopes if s not in requirements or requirements[s] & held)
    return allowed, claims
