"""What follows any change to a user's factors: the audit event, and every other session
of the user ends (a factor added by someone holding a stolen session must not leave the
thief signed in elsewhere, and a removed one must not keep working anywhere)."""

from __future__ import annotations

from typing import Any

from ostiary.accounts import logout
from ostiary.accounts.deps import AccountDeps


async def factor_changed(
    services: AccountDeps,
    user_id: str,
    event: str,
    *,
    actor: str,
    details: dict[str, Any],
    keep_sid: str | None = None,
    ip: str | None = None,
) -> int:
    """Audit ``event`` (``mfa.enrolled``, ``mfa.removed``, ``mfa.reset``,
    ``mfa.recovery_codes_replaced``) and end the user's sessions but ``keep_sid``; how
    many ended."""
    ended = 0
    for session in await services.store.sessions.for_user(user_id):
        if session.sid != keep_sid:
            await logout.end_session(services, session)
            ended += 1
    await services.audit.record(
        event,
        actor=actor,
        user_id=user_id,
        ip=ip,
        details={**details, "sessions_ended": ended},
    )
    return ended
