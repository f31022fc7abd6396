"""Taking second factors away: one by the user on the security page, one or all by an
administrator (``ostiary user mfa reset``, the admin API).

Recovery codes only stand in for a factor, so they go with the last confirmed one: a user
left with no factor has nothing to recover, and codes kept from before would pass a
second-factor check the user no longer sets up.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.accounts.deps import AccountDeps
from ostiary.accounts.mfa.changes import factor_changed
from ostiary.domain.mfa import Factor
from ostiary.domain.repositories import Factors


@dataclass(frozen=True, slots=True)
class Removed:
    """What a removal took away."""

    factors: tuple[Factor, ...]
    # True: the user had recovery codes and no confirmed factor is left to use them with.
    recovery_codes_deleted: bool
    sessions_ended: int = 0

    def view(self) -> dict[str, object]:
        return {
            "factors_removed": [f.id for f in self.factors],
            "recovery_codes_deleted": self.recovery_codes_deleted,
            "sessions_ended": self.sessions_ended,
        }


async def remove(factors: Factors, user_id: str, factor_id: str) -> Removed | None:
    """Delete one factor of the user (None: the user has no factor with that id), and the
    recovery codes with the last confirmed one."""
    factor = await factors.get(factor_id)
    if factor is None or factor.user_id != user_id:
        return None
    if not await factors.delete(factor_id, user_id):
        return None  # removed meanwhile by another request
    codes_deleted = False
    if not any(f.confirmed for f in await factors.for_user(user_id)):
        codes_deleted = await factors.recovery_codes_left(user_id) > 0
        await factors.set_recovery_codes(user_id, [])
    return Removed((factor,), codes_deleted)


async def reset(
    services: AccountDeps,
    user_id: str,
    *,
    actor: str,
    factor_id: str | None = None,
    ip: str | None = None,
) -> Removed | None:
    """An administrator removes one factor (``factor_id``) or every factor and recovery
    code of the user; the user enrols again where policy requires it. Audited as
    ``mfa.reset`` and every session of the user ends, so nobody stays signed in on the
    strength of a factor that is gone.

    None: ``factor_id`` names no factor of the user. Nothing to remove is no change: no
    event, no session ended."""
    store = services.store.factors
    if factor_id is not None:
        removed = await remove(store, user_id, factor_id)
        if removed is None:
            return None
    else:
        found = tuple(await store.for_user(user_id))
        codes_left = await store.recovery_codes_left(user_id)
        await store.delete_for_user(user_id)
        removed = Removed(found, codes_left > 0)
    if not removed.factors and not removed.recovery_codes_deleted:
        return removed
    details = {
        "factors": [{"id": f.id, "kind": f.kind, "name": f.name} for f in removed.factors],
        "recovery_codes_deleted": removed.recovery_codes_deleted,
    }
    ended = await factor_changed(
        services, user_id, "mfa.reset", actor=actor, details=details, ip=ip
    )
    return Removed(removed.factors, removed.recovery_codes_deleted, ended)
