"""Account state changes that must reach every token at once."""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.services import Services
from ostiary.storage.repos.users import User


@dataclass(frozen=True, slots=True)
class Cutoff:
    sessions_ended: int
    refresh_tokens_revoked: int


async def disable(services: Services, user: User) -> Cutoff:
    """Disable the account and revoke everything it holds, for good.

    Sessions end, refresh tokens are revoked (enabling the account later does not revive
    them), and the access tokens issued with them go on the deny list until they expire.
    """
    store = services.store
    await store.users.set_disabled(user.id, True)
    ended = await store.sessions.delete_for_user(user.id)
    revoked = await store.refresh_tokens.revoke_for_user(user.id)
    await store.revocations.revoke((r.jti, r.expires_at) for r in revoked)
    return Cutoff(ended, len(revoked))
