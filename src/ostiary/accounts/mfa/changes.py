"""What follows any change to a user's factors: the audit event, and every other session
of the user ends (a factor added by someone holding a stolen session must not leave the
thief signed in elsewhere, and a removed one must not keep working anywhere)."""

from __future__ import annotations

from typing import Any

from ostiary import clock
from ostiary.accounts import logout
from ostiary.accounts.deps import AccountDeps
from ostiary.domain.sessions import Session

# A change to a person's factors needs a sign-in this recent: a session taken over (a
# stolen cookie, an unlocked computer) must not be enough to add or remove a factor.
RECENT_SIGN_IN = 600
REAUTHENTICATE = "/account/login?next=/account/security&prompt=login"


def recently_signed_in(session: Session) -> bool:
    return clock.now() - session.auth_time <= RECENT_SIGN_IN


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
