"""Local accounts: create, change, disable, delete, passwords and second factors.

The admin API (``admin.routes_users``) and the console's user pages both call these; each
writes the audit event naming ``caller`` as the actor.
"""

from __future__ import annotations

from typing import Any

from ostiary.accounts import lifecycle, mail
from ostiary.accounts.mfa import admin as mfa_admin
from ostiary.accounts.mfa.admin import Removed
from ostiary.accounts.recovery import RESET, RESET_PREFIX, RESET_TTL
from ostiary.admin.auth import Caller
from ostiary.admin.problems import Problem, conflict, not_found, unprocessable
from ostiary.admin.resources import record, updated, user_or_404
from ostiary.admin.schemas import UserCreate, UserOut, UserPatch
from ostiary.crypto.tokens import digest, new_secret
from ostiary.domain.users import DuplicateUserError, EmailTaken, User
from ostiary.services import Services

_PROFILE_COLUMNS = ("email", "email_verified", "phone_number", "phone_number_verified")


def view(user: User) -> UserOut:
    """The public view: never the password hash, only whether there is one."""
    return UserOut.model_validate(user.public_view())


async def create(services: Services, caller: Caller, body: UserCreate) -> User:
    """A new account, with a password only when ``body`` has one; audited ``user.created``
    with its public view."""
    password_hash = None
    if body.password is not None:
        check_password(services, body.password)
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
    after = view(user).model_dump()
    await record(services, caller, "user.created", user_id=user.id, details={"after": after})
    return user


async def update(services: Services, caller: Caller, user_id: str, body: UserPatch) -> User:
    """Change profile, verification flags, password or state, in that order; members left
    out of ``body`` stay as they are."""
    user = await user_or_404(services, user_id)
    sent = body.model_fields_set
    password = body.password if "password" in sent else None
    if password is not None:
        check_password(services, password)
    await _change_profile(services, caller, user, body)
    if password is not None:
        await _store_password(services, caller, user, password)
    if body.disabled is not None:
        await set_disabled(services, caller, user, body.disabled)
    return await user_or_404(services, user.id)


async def set_password(services: Services, caller: Caller, user: User, password: str) -> None:
    """A new password chosen by an administrator; audited ``user.password_set`` (without
    the password, of course)."""
    check_password(services, password)
    await _store_password(services, caller, user, password)


async def set_disabled(services: Services, caller: Caller, user: User, disabled: bool) -> None:
    """Disabling ends every session and revokes every token of the user for good
    (``accounts.lifecycle.disable``); enabling lets them sign in again. No change, no
    event."""
    if disabled and not user.disabled:
        await lifecycle.disable(services, user, actor=caller.actor)
    elif not disabled and user.disabled:
        await services.store.users.set_disabled(user.id, False)
        await record(services, caller, "user.enabled", user_id=user.id)


async def delete(services: Services, caller: Caller, user_id: str) -> None:
    """Delete the account; sessions end, tokens are revoked, its audit trail is
    pseudonymised (``accounts.lifecycle.delete``)."""
    user = await user_or_404(services, user_id)
    await lifecycle.delete(services, user, actor=caller.actor)


async def reset_mfa(
    services: Services, caller: Caller, user_id: str, factor_id: str | None = None
) -> Removed:
    """Remove one factor, or every factor and recovery code; the user's sessions end.
    Audited ``mfa.reset`` by ``accounts.mfa.admin.reset``."""
    user = await user_or_404(services, user_id)
    removed = await mfa_admin.reset(
        services, user.id, actor=caller.actor, factor_id=factor_id, ip=caller.ip
    )
    if removed is None:
        raise not_found(f"factor {factor_id!r} of this user")
    return removed


async def send_reset(services: Services, caller: Caller, user: User) -> None:
    """Mail the user a one-time password reset link (the one /account/reset takes), as
    ``accounts.recovery`` does when a person asks; audited ``password.reset_sent``.

    Only the link's digest is stored and neither it nor the link is written anywhere."""
    if not services.settings.smtp.host:
        raise unprocessable("no mail can be sent: OSTIARY_SMTP__HOST is not set")
    if user.disabled:
        raise unprocessable("the account is disabled: enable it before sending a reset link")
    if not user.email:
        raise unprocessable("the user has no email address to send a reset link to")
    token = new_secret(RESET_PREFIX)
    await services.store.one_time_tokens.add(
        token_hash=digest(token), user_id=user.id, purpose=RESET, ttl=RESET_TTL, email=user.email
    )
    link = f"{services.settings.issuer}/account/reset?token={token}"
    sent = await mail.send(services.settings.smtp, _reset_mail(user, user.email, link))
    await record(
        services,
        caller,
        "password.reset_sent",
        user_id=user.id,
        outcome="success" if sent else "failure",
    )
    if not sent:
        # RFC 9110 §15.6.3: the upstream (the mail server) failed us.
        raise Problem(502, "the mail server did not take the reset mail; see the server log")


def check_password(services: Services, password: str) -> None:
    if not services.settings.local_login:
        # OSTIARY_LOCAL_LOGIN=false: users sign in upstream, so no password is stored at all.
        raise unprocessable(
            "local passwords are disabled (OSTIARY_LOCAL_LOGIN=false): no password is stored; "
            "users sign in with an upstream identity provider"
        )
    minimum = services.settings.passwords.min_length
    if len(password) < minimum:
        raise unprocessable(f"a password needs at least {minimum} characters")


async def _store_password(services: Services, caller: Caller, user: User, password: str) -> None:
    await services.store.users.set_password_hash(user.id, await services.passwords.hash(password))
    await record(services, caller, "user.password_set", user_id=user.id)


async def _change_profile(services: Services, caller: Caller, user: User, body: UserPatch) -> None:
    changes = profile_changes(user, body)
    if not changes:
        return
    try:
        await services.store.users.update_profile(user.id, **changes)
    except EmailTaken as exc:
        raise conflict(str(exc)) from None
    before = {k: getattr(user, k) for k in changes}
    await updated(services, caller, "user.updated", before, changes, user_id=user.id)


def profile_changes(user: User, body: UserPatch) -> dict[str, Any]:
    """The columns ``body`` changes (profile claims merged into the stored ones)."""
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


def _reset_mail(user: User, address: str, link: str) -> mail.Mail:
    body = (
        f'An administrator asked for a new password for your account "{user.username}".\n\n'
        f"To choose it, open this link within {RESET_TTL // 60} minutes:\n\n"
        f"{link}\n\n"
        "The link works once. Until you use it, your current password (if you have one) "
        "stays as it is.\n"
    )
    return mail.Mail(address, "Choose a new password", body, "password-reset", user.id)
