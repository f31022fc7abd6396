"""/users: local accounts, listed by username with keyset pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ostiary.accounts import lifecycle
from ostiary.accounts.mfa import admin as mfa_admin
from ostiary.admin import paging
from ostiary.admin.auth import Caller, CallerDep, ServicesDep
from ostiary.admin.mfa_schemas import FactorId, FactorOut, MfaOut, MfaResetOut
from ostiary.admin.problems import conflict, documented, not_found, unprocessable
from ostiary.admin.resources import UserId, created, record, updated, user_or_404
from ostiary.admin.schemas import Page, UserCreate, UserOut, UserPatch
from ostiary.domain.users import DuplicateUserError, EmailTaken, User
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries

router = APIRouter(prefix="/users", tags=["users"])
_PROFILE_COLUMNS = ("email", "email_verified", "phone_number", "phone_number_verified")


def view(user: User) -> UserOut:
    return UserOut.model_validate(user.public_view())


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
    password_hash = None
    if body.password is not None:
        _check_password(services, body.password)
        password_hash = await services.passwords.hash(body.password)
    try:
        user = await services.store.users.add(
            username=body.username,
            email=body.email,
            password_hash=password_hash,
            email_verified=body.email_verified,
            phone_number=body.phone_number,
            phone_number_verified=body.phone_number_verified,
            profile=body.profile.model_dump(exclude_none=True),
        )
    except DuplicateUserError:
        raise conflict(f"user {body.username!r} exists already") from None
    except EmailTaken as exc:
        raise conflict(str(exc)) from None
    out = view(user)
    after = _public(out)
    await created(
        services,
        caller,
        request,
        response,
        "user.created",
        after,
        "users",
        user.id,
        user_id=user.id,
    )
    return out


@router.get("/{user_id}", response_model=UserOut, responses=documented(404))
async def get_user(user_id: UserId, services: ServicesDep) -> UserOut:
    return view(await user_or_404(services, user_id))


@router.patch("/{user_id}", response_model=UserOut, responses=documented(404, 409))
async def update_user(
    user_id: UserId, body: UserPatch, services: ServicesDep, caller: CallerDep
) -> UserOut:
    """Change profile, verification flags, password or state. Disabling ends the user's
    sessions and revokes their tokens at once (``accounts.lifecycle.disable``)."""
    user = await user_or_404(services, user_id)
    sent = body.model_fields_set
    if "password" in sent and body.password is not None:
        _check_password(services, body.password)
    changes = _profile_changes(user, body)
    if changes:
        try:
            await services.store.users.update_profile(user.id, **changes)
        except EmailTaken as exc:
            raise conflict(str(exc)) from None
        before = {k: getattr(user, k) for k in changes}
        await updated(services, caller, "user.updated", before, changes, user_id=user.id)
    if "password" in sent and body.password is not None:
        await services.store.users.set_password_hash(
            user.id, await services.passwords.hash(body.password)
        )
        await record(services, caller, "user.password_set", user_id=user.id)
    if body.disabled is True and not user.disabled:
        await lifecycle.disable(services, user, actor=caller.actor)
    elif body.disabled is False and user.disabled:
        await services.store.users.set_disabled(user.id, False)
        await record(services, caller, "user.enabled", user_id=user.id)
    return view(await user_or_404(services, user.id))


@router.delete("/{user_id}", status_code=204, responses=documented(404))
async def delete_user(user_id: UserId, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete the account; sessions end, tokens are revoked, its audit trail is
    pseudonymised (``accounts.lifecycle.delete``)."""
    user = await user_or_404(services, user_id)
    await lifecycle.delete(services, user, actor=caller.actor)
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
    return await _reset(services, caller, user_id, None)


@router.delete("/{user_id}/mfa/{factor_id}", status_code=204, responses=documented(404))
async def remove_factor(
    user_id: UserId, factor_id: FactorId, services: ServicesDep, caller: CallerDep
) -> Response:
    """Remove one factor (with the last one, the recovery codes too); every session of
    the user ends; audited as ``mfa.reset``."""
    await _reset(services, caller, user_id, factor_id)
    return Response(status_code=204)


async def _reset(
    services: Services, caller: Caller, user_id: str, factor_id: str | None
) -> MfaResetOut:
    user = await user_or_404(services, user_id)
    removed = await mfa_admin.reset(
        services, user.id, actor=caller.actor, factor_id=factor_id, ip=caller.ip
    )
    if removed is None:
        raise not_found(f"factor {factor_id!r} of this user")
    return MfaResetOut.model_validate(removed.view())


def _check_password(services: Services, password: str) -> None:
    if not services.settings.local_login:
        # OSTIARY_LOCAL_LOGIN=false: users sign in upstream, so no password is stored at all.
        raise unprocessable(
            "local passwords are disabled (OSTIARY_LOCAL_LOGIN=false): no password is stored; "
            "users sign in with an upstream identity provider"
        )
    minimum = services.settings.passwords.min_length
    if len(password) < minimum:
        raise unprocessable(f"a password needs at least {minimum} characters")


def _profile_changes(user: User, body: UserPatch) -> dict[str, Any]:
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    for name in _PROFILE_COLUMNS:
        value = getattr(body, name)
        if name in sent and not (name.endswith("verified") and value is None):
            changes[name] = value
    # A new address is unverified until someone says otherwise.
    if "email" in changes and changes["email"] != user.email and "email_verified" not in changes:
        changes["email_verified"] = False
    if "phone_number" in changes and changes["phone_number"] != user.phone_number:
        changes.setdefault("phone_number_verified", False)
    if body.profile is not None:
        profile = dict(user.profile)
        for claim in body.profile.model_fields_set:
            value = getattr(body.profile, claim)
            if value is None:
                profile.pop(claim, None)
            else:
                profile[claim] = (
                    value.model_dump(exclude_none=True) if claim == "address" else value
                )
        changes["profile"] = profile
    return {k: v for k, v in changes.items() if getattr(user, k) != v}


def _public(user: UserOut) -> dict[str, Any]:
    return user.model_dump()
