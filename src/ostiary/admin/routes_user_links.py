"""/users/{id}/...: a user's roles, groups, SSO sessions, consents, linked identities and
lockout.

The changes are ``admin.operations.user_links``, shared with the console."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.operations import user_links
from ostiary.admin.problems import documented
from ostiary.admin.resources import ClientIdPath, RolePath, UserId, user_or_404
from ostiary.admin.schemas import (
    ConsentOut,
    Count,
    GroupLink,
    IdentityOut,
    Page,
    RoleLink,
    SessionOut,
)
from ostiary.storage.queries import admin_views as queries

router = APIRouter(prefix="/users/{user_id}", tags=["users"], responses=documented(404))
Provider = Annotated[str, Path(max_length=200, description="The provider's name.")]
Subject = Annotated[str, Path(max_length=255, description="The user's sub at the provider.")]
Sid = Annotated[str, Path(max_length=200, description="The session's sid (OIDC Core §2).")]


@router.get("/roles", response_model=Page[RoleLink])
async def list_user_roles(user_id: UserId, services: ServicesDep) -> Page[RoleLink]:
    """Effective roles: assigned ones and those of the user's groups and their parents."""
    user = await user_or_404(services, user_id)
    access = services.store.access
    direct = set(await access.direct_roles(user.id))
    effective = (await access.effective(user.id)).roles | direct
    items = [RoleLink(name=r, direct=r in direct) for r in sorted(effective)]
    return Page[RoleLink](items=items)


@router.put("/roles/{role}", status_code=204)
async def assign_role(
    user_id: UserId, role: RolePath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Assign a role (idempotent)."""
    await user_links.assign_role(services, caller, user_id, role)
    return Response(status_code=204)


@router.delete("/roles/{role}", status_code=204)
async def unassign_role(
    user_id: UserId, role: RolePath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Take back a directly assigned role; roles held through groups stay."""
    await user_links.unassign_role(services, caller, user_id, role)
    return Response(status_code=204)


@router.get("/groups", response_model=Page[GroupLink])
async def list_user_groups(user_id: UserId, services: ServicesDep) -> Page[GroupLink]:
    """Effective groups: those the user is a member of and every group above them."""
    user = await user_or_404(services, user_id)
    direct = {g.id: g for g in await queries.direct_groups(services.engine, user.id)}
    names = (await services.store.access.effective(user.id)).groups
    found = {g.id: g for g in await queries.groups_named(services.engine, set(names))}
    found.update(direct)
    items = [
        GroupLink(id=g.id, name=g.name, direct=g.id in direct)
        for g in sorted(found.values(), key=lambda g: g.name)
    ]
    return Page[GroupLink](items=items)


@router.get("/sessions", response_model=Page[SessionOut])
async def list_sessions(user_id: UserId, services: ServicesDep) -> Page[SessionOut]:
    """Live SSO sessions and the clients that received tokens in each."""
    user = await user_or_404(services, user_id)
    sessions = sorted(
        await services.store.sessions.for_user(user.id), key=lambda s: (s.created_at, s.sid)
    )
    clients = await queries.clients_by_session(services.engine, [s.sid for s in sessions])
    items = [
        SessionOut(
            sid=s.sid,
            created_at=s.created_at,
            auth_time=s.auth_time,
            expires_at=s.expires_at,
            amr=list(s.amr),
            client_ids=clients.get(s.sid, []),
        )
        for s in sessions
    ]
    return Page[SessionOut](items=items)


@router.delete("/sessions", response_model=Count)
async def end_all_sessions(user_id: UserId, services: ServicesDep, caller: CallerDep) -> Count:
    """End every session of the user (with back-channel logout); returns how many."""
    return Count(count=await user_links.end_all_sessions(services, caller, user_id))


@router.delete("/sessions/{sid}", status_code=204)
async def end_one_session(
    user_id: UserId, sid: Sid, services: ServicesDep, caller: CallerDep
) -> Response:
    """End one session: its tokens die and its clients are told (Back-Channel Logout §2)."""
    await user_links.end_session(services, caller, user_id, sid)
    return Response(status_code=204)


@router.get("/consents", response_model=Page[ConsentOut])
async def list_consents(user_id: UserId, services: ServicesDep) -> Page[ConsentOut]:
    user = await user_or_404(services, user_id)
    rows = await queries.consents_of(services.engine, user.id)
    items = [
        ConsentOut(client_id=r.client_id, scopes=sorted(r.scopes), updated_at=r.updated_at)
        for r in rows
    ]
    return Page[ConsentOut](items=items)


@router.delete("/consents/{client_id}", status_code=204)
async def revoke_consent(
    user_id: UserId, client_id: ClientIdPath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Forget the consent: the client must ask the user again."""
    await user_links.revoke_consent(services, caller, user_id, client_id)
    return Response(status_code=204)


@router.get("/identities", response_model=Page[IdentityOut])
async def list_identities(user_id: UserId, services: ServicesDep) -> Page[IdentityOut]:
    """The upstream identities linked to the user, by provider."""
    user = await user_or_404(services, user_id)
    linked = await services.store.federation.for_user(user.id)
    return Page[IdentityOut](
        items=[
            IdentityOut(
                provider=i.provider,
                subject=i.subject,
                email=i.email,
                created_at=i.created_at,
                last_login_at=i.last_login_at,
            )
            for i in linked
        ]
    )


@router.delete("/identities/{provider}/{subject:path}", status_code=204)
async def unlink_identity(
    user_id: UserId, provider: Provider, subject: Subject, services: ServicesDep, caller: CallerDep
) -> Response:
    """Remove the link (and what its provider's claim mapping gave, with the last link);
    audited ``federation.unlinked``. The account may be left without a way to sign in."""
    await user_links.unlink_identity(services, caller, user_id, provider, subject)
    return Response(status_code=204)


@router.post("/unlock", response_model=Count)
async def unlock_user(user_id: UserId, services: ServicesDep, caller: CallerDep) -> Count:
    """Clear the failed-login counter and lock of the account; ``count`` is 1 if there was
    one."""
    user = await user_or_404(services, user_id)
    return Count(count=await user_links.unlock(services, caller, user))
