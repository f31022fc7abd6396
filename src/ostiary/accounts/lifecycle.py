"""State changes that must reach every token at once: disable, delete, revoke."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ostiary import clock
from ostiary.accounts import logout
from ostiary.accounts.deps import AccountDeps
from ostiary.crypto.sealing import derive_key
from ostiary.domain.users import User
from ostiary.storage.repos.revocation_events import cutoff


@dataclass(frozen=True, slots=True)
class Cutoff:
    sessions_ended: int
    refresh_tokens_revoked: int


async def end_sessions(services: AccountDeps, user_id: str) -> int:
    """End every SSO session of a user, telling each client over the back channel."""
    sessions = await services.store.sessions.for_user(user_id)
    for session in sessions:
        await logout.end_session(services, session)
    return len(sessions)


async def revoke_user_tokens(services: AccountDeps, user_id: str) -> int:
    store = services.store
    revoked = await store.refresh_tokens.revoke_for_user(user_id)
    await store.revocations.revoke((r.jti, r.expires_at) for r in revoked)
    return len(revoked)


async def revoke_client_tokens(services: AccountDeps, client_id: str, *, actor: str) -> int:
    """Revoke every refresh token of a client, deny the access tokens issued with them,
    and discard its authorization codes not yet redeemed."""
    store = services.store
    revoked = await store.refresh_tokens.revoke_for_client(client_id)
    await store.revocations.revoke((r.jti, r.expires_at) for r in revoked)
    # Access tokens without a refresh token (client credentials, OpenID code exchanges)
    # are not on record one by one: everything the client holds up to now is cut off.
    not_before = await store.clients.invalidate_tokens(client_id)
    # Codes issued before now would yield tokens issued after the cut-off: gone too.
    await store.codes.discard_unredeemed_for_client(client_id)
    await store.revocation_events.add_many([cutoff("client", client_id, not_before)])
    await services.audit.record(
        "client.tokens_revoked", actor=actor, client_id=client_id, details={"count": len(revoked)}
    )
    return len(revoked)


async def delete_client(services: AccountDeps, client_id: str, *, actor: str = "system") -> bool:
    """Delete a registration; its tokens die first (and a re-registered id revives none)."""
    if await services.store.clients.get(client_id) is None:
        return False
    await revoke_client_tokens(services, client_id, actor=actor)
    await services.store.refresh_tokens.delete_for_client(client_id)
    deleted = await services.store.clients.delete(client_id)
    await services.audit.record("client.deleted", actor=actor, client_id=client_id)
    return deleted


async def _cut_off_user(services: AccountDeps, user_id: str) -> None:
    """Tell resource servers that every token of the user issued up to now is dead."""
    # iat has seconds precision: a token issued earlier in this very second is dead too.
    await services.store.revocation_events.add_many([cutoff("sub", user_id, clock.now() + 1)])


async def disable(services: AccountDeps, user: User, *, actor: str = "system") -> Cutoff:
    """Disable the account and revoke everything it holds, for good.

    Sessions end (with back-channel logout), refresh tokens are revoked (enabling the
    account later does not revive them), and the access tokens issued with them go on the
    deny list until they expire.
    """
    await services.store.users.set_disabled(user.id, True)
    await _cut_off_user(services, user.id)
    ended = await end_sessions(services, user.id)
    revoked = await revoke_user_tokens(services, user.id)
    await services.audit.record(
        "user.disabled",
        actor=actor,
        user_id=user.id,
        details={"sessions_ended": ended, "refresh_tokens_revoked": revoked},
    )
    return Cutoff(ended, revoked)


def pseudonym(services: AccountDeps, user_id: str) -> str:
    """A stable stand-in for a deleted user in the audit log, not reversible without the
    server's secret key."""
    key = derive_key(services.settings.require_secret_key(), "audit-pseudonym")
    return "deleted:" + hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:24]


async def delete(services: AccountDeps, user: User, *, actor: str = "system") -> Cutoff:
    """Delete the account: revoke everything, pseudonymise the audit trail, drop the row.

    Roles, group memberships, consents, sessions and one-time tokens go with the row
    (foreign keys cascade); refresh tokens are revoked first so their access tokens are
    denied, then purged with the rest when they expire.
    """
    await _cut_off_user(services, user.id)
    ended = await end_sessions(services, user.id)
    revoked = await revoke_user_tokens(services, user.id)
    stand_in = pseudonym(services, user.id)
    # Events still queued in this process name the user: write them first, then rename.
    await services.audit.flush()
    await services.store.audit.pseudonymise(user.id, stand_in)
    await services.store.users.delete(user.id)
    await services.audit.record(
        "user.deleted",
        actor=actor if actor != f"user:{user.id}" else f"user:{stand_in}",
        user_id=stand_in,
        details={"sessions_ended": ended, "refresh_tokens_revoked": revoked},
    )
    return Cutoff(ended, revoked)
