"""What a user may be granted: role-gated scopes, and roles/groups claims in tokens."""

from __future__ import annotations

from typing import Any

from ostiary.services import Services
from ostiary.storage.repos.access import Effective
from ostiary.storage.repos.clients import Client


async def grantable(services: Services, user_id: str, scopes: frozenset[str]) -> frozenset[str]:
    """The requested scopes this user may hold: a gated scope needs one of its roles.

    A scope nobody gated is open to every user; the client's registration still limits
    what may be asked for (RFC 6749 §3.3). A scope the user may not hold is dropped, not
    an error, so the client gets what the user is allowed (RFC 6749 §3.3: the granted
    scope may differ from the requested one).
    """
    requirements = await services.store.access.requirements(scopes)
    if not requirements:
        return scopes
    effective = await services.store.access.effective(user_id)
    return frozenset(
        s for s in scopes if s not in requirements or requirements[s] & effective.roles
    )


async def token_claims(services: Services, client: Client, user_id: str | None) -> dict[str, Any]:
    """RFC 9068 §2.2.3.1: roles and groups, for clients registered to receive them."""
    if user_id is None or not (client.include_roles or client.include_groups):
        return {}
    effective: Effective = await services.store.access.effective(user_id)
    claims: dict[str, Any] = {}
    if client.include_roles:
        claims["roles"] = sorted(effective.roles)
    if client.include_groups:
        claims["groups"] = sorted(effective.groups)
    return claims
