"""/users: local accounts, listed by username with keyset pages.

The changes themselves are ``admin.operations.users``, shared with the console."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ostiary.admin import paging
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.mfa_schemas import FactorId, FactorOut, MfaOut, MfaResetOut
from ostiary.admin.operations import users as operations
from ostiary.admin.operations.users import view
from ostiary.admin.problems import documented
from ostiary.admin.resources import UserId, location, user_or_404
from ostiary.admin.schemas import Page, UserCreate, UserOut, UserPatch
from ostiary.storage.queries import admin_views as queries

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=Page[UserOut])
async def list_users(
    services: ServicesDep,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
    username_prefix: Annotated[str | None, Query(max_length=150)] = None,
    email: Annotated[str | None, Query(max_length=320, description="Exact, any case.")] = None,
    disabled: bool | None = None,
) -> Page[UserOut]:
    """Users by username; ``next_cursor`` continues after the last one."""
    rows, more = await queries.page(
        services.engine,
        "users",
        "username",
        after=paging.decode("users", cursor),
        limit=limit,
        where=queries.user_filters(username_prefix, email, disabled),
    )
    found = [queries.user_of(r) for r in rows]
    next_cursor = paging.encode("users", found[-1].username) if more else None
    return Page[UserOut](items=[view(u) for u in found], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=UserOut, responses=documented(409))
async def create_user(
    body: UserCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> UserOut:
    user = await operations.create(services, caller, body)
    response.headers["Location"] = location(request, "users", user.id)
    return view(user)


@router.get("/{user_id}", response_model=UserOut, responses=documented(404))
async def get_user(user_id: UserId, services: ServicesDep) -> UserOut:
    return view(await user_or_404(services, user_id))


@router.patch("/{user_id}", response_model=UserOut, responses=documented(404, 409))
async def update_user(
    user_id: UserId, body: UserPatch, services: ServicesDep, caller: CallerDep
) -> UserOut:
    """Change profile, verification flags, password or state. Disabling ends the user's
    sessions and revokes their tokens at once (``accounts.lifecycle.disable``)."""
    return view(await operations.update(services, caller, user_id, body))


@router.delete("/{user_id}", status_code=204, responses=documented(404))
async def delete_user(user_id: UserId, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete the account; sessions end, tokens are revoked, its audit trail is
    pseudonymised (``accounts.lifecycle.delete``)."""
    await operations.delete(services, caller, user_id)
    return Response(status_code=204)


@router.get("/{user_id}/mfa", response_model=MfaOut, responses=documented(404))
async def get_mfa(user_id: UserId, services: ServicesDep) -> MfaOut:
    """The user's second factors (names, kinds, created, last used) and how many recovery
    codes are left; no secret, key or code is ever shown."""
    user = await user_or_404(services, user_id)
    factors = services.store.factors
    return MfaOut(
        factors=[
            FactorOut.model_validate(f.public_view()) for f in await factors.for_user(user.id)
        ],
        recovery_codes_left=await factors.recovery_codes_left(user.id),
    )


@router.delete("/{user_id}/mfa", response_model=MfaResetOut, responses=documented(404))
async def reset_mfa(user_id: UserId, services: ServicesDep, caller: CallerDep) -> MfaResetOut:
    """Remove every factor and recovery code: the user enrols again where policy requires
    it. Every session of the user ends; audited as ``mfa.reset``."""
    removed = await operations.reset_mfa(services, caller, user_id)
    return MfaResetOut.model_validate(removed.view())


@router.delete("/{user_id}/mfa/{factor_id}", status_code=204, responses=documented(404))
async def remove_factor(
    user_id: UserId, factor_id: FactorId, services: ServicesDep, caller: CallerDep
) -> Response:
    """Remove one factor (with the last one, the recovery codes too); every session of
    the user ends; audited as ``mfa.reset``."""
    await operations.reset_mfa(services, caller, user_id, factor_id)
    return Response(status_code=204)
