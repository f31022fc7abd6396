"""What a user may be granted: role-gated scopes, and roles/groups claims in tokens."""

from __future__ import annotations

from ostiary.domain.access import Effective, Gates
from ostiary.tokens.deps import HasStore


def _allowed(
    scopes: frozenset[str], requirements: dict[str, frozenset[str]], effective: Effective | None
) -> frozenset[str]:
    """A gated scope needs one of its roles; a scope nobody gated is open to every user."""
    if not requirements:
        return scopes
    roles = effective.roles if effective is not None else frozenset()
    return frozenset(s for s in scopes if s not in requirements or requirements[s] & roles)


async def grantable(
    services: HasStore, user_id: str, scopes: frozenset[str], gates: Gates | None = None
) -> frozenset[str]:
    """The requested scopes this user may hold (``gates``: the requirements of these scopes
    when already read, e.g. with the interaction that holds them).

    The client's registration still limits what may be asked for (RFC 6749 §3.3). A scope
    the user may not hold is dropped, not an error, so the client gets what the user is
    allowed (RFC 6749 §3.3: the granted scope may differ from the requested one).
    """
    if gates is None:
        requirements = await services.store.access.requirements(scopes)
    else:
        requirements = {s: roles for s, roles in gates.items() if s in scopes}
    if not requirements:
        return scopes
    return _allowed(scopes, requirements, await services.store.access.effective(user_id))
