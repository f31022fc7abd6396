"""What hangs off one user: roles, group memberships, SSO sessions, consents, lockout,
linked upstream identities.

Shared by the admin API (``admin.routes_user_links``) and the console's user page; a
membership is audited in the shape the groups API's member routes write.
"""

from __future__ import annotations

from ostiary.accounts import lifecycle, logout
from ostiary.accounts.throttle import account_key
from ostiary.admin.auth import Caller
from ostiary.admin.problems import not_found
from ostiary.admin.resources import group_or_404, record, user_or_404
from ostiary.domain.access import AccessError, Group
from ostiary.domain.users import User
from ostiary.services import Services


async def assign_role(services: Services, caller: Caller, user_id: str, role: str) -> bool:
    """Assign a role (idempotent: False when the user had it already, and no event)."""
    user = await user_or_404(services, user_id)
    try:
        added = await services.store.access.assign(user.id, role)
    except AccessError:
        raise not_found(f"role {role!r}") from None
    if added:
        await record(services, caller, "role.assigned", user_id=user.id, details={"role": role})
    return added


async def unassign_role(services: Services, caller: Caller, user_id: str, role: str) -> None:
    """Take back a directly assigned role; roles held through groups stay."""
    user = await user_or_404(services, user_id)
    if not await services.store.access.unassign(user.id, role):
        raise not_found(f"assignment of role {role!r}")
    await record(services, caller, "role.unassigned", user_id=user.id, details={"role": role})


async def join_group(services: Services, caller: Caller, user_id: str, group_id: str) -> bool:
    """Make the user a member of the group (idempotent); audited ``group.member_added``
    as the groups API writes it."""
    group = await group_or_404(services, group_id)
    user = await user_or_404(services, user_id)
    added = await services.store.access.add_member(group.id, user.id)
    if added:
        await _membership(services, caller, "group.member_added", group, user.id)
    return added


async def leave_group(services: Services, caller: Caller, user_id: str, group_id: str) -> None:
    group = await group_or_404(services, group_id)
    if not await services.store.access.remove_member(group.id, user_id):
        raise not_found(f"membership of user {user_id!r}")
    await _membership(services, caller, "group.member_removed", group, user_id)


async def end_all_sessions(services: Services, caller: Caller, user_id: str) -> int:
    """End every session of the user (with back-channel logout); how many ended."""
    user = await user_or_404(services, user_id)
    ended = await lifecycle.end_sessions(services, user.id)
    await record(
        services, caller, "session.ended_by_admin", user_id=user.id, details={"count": ended}
    )
    return ended


async def end_session(services: Services, caller: Caller, user_id: str, sid: str) -> None:
    """End one session: its tokens die and its clients are told (Back-Channel Logout §2)."""
    user = await user_or_404(services, user_id)
    session = await services.store.sessions.by_sid(sid)
    if session is None or session.user_id != user.id:
        raise not_found(f"session {sid!r} of this user")
    told = await logout.end_session(services, session)
    await record(
        services,
        caller,
        "session.ended_by_admin",
        user_id=user.id,
        details={"sid": sid, "backchannel_clients": told},
    )


async def revoke_consent(services: Services, caller: Caller, user_id: str, client_id: str) -> None:
    """Forget the consent: the client must ask the user again."""
    user = await user_or_404(services, user_id)
    consents = services.store.consents
    scopes = await consents.granted(user.id, client_id)
    if scopes is None:
        raise not_found(f"consent of this user for client {client_id!r}")
    await consents.revoke(user.id, client_id)
    await record(
        services,
        caller,
        "consent.revoked",
        user_id=user.id,
        client_id=client_id,
        details={"before": {"scopes": sorted(scopes)}},
    )


async def unlink_identity(
    services: Services, caller: Caller, user_id: str, provider: str, subject: str
) -> None:
    """Remove the link to an upstream identity (and the roles and groups its provider's
    claim mapping gave, with its last link); audited ``federation.unlinked`` as the account
    page writes it. The account may be left with no way to sign in: an admin can give it
    a password."""
    user = await user_or_404(services, user_id)
    if not await services.store.federation.unlink(user.id, provider, subject):
        raise not_found(f"identity {subject!r} of provider {provider!r} linked to this user")
    await record(
        services,
        caller,
        "federation.unlinked",
        user_id=user.id,
        details={"provider": provider, "subject": subject},
    )


async def unlock(services: Services, caller: Caller, user: User) -> int:
    """Clear the failed-login counter and lock of the account; 1 if there was one."""
    cleared = await services.throttle.unlock([account_key(user.username)])
    await record(services, caller, "user.unlocked", user_id=user.id, details={"count": cleared})
    return cleared


async def _membership(
    services: Services, caller: Caller, type: str, group: Group, user_id: str
) -> None:
    details = {"group_id": group.id, "group": group.name, "user_id": user_id}
    await record(services, caller, type, user_id=user_id, details=details)
