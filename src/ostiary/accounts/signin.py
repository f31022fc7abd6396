"""Password sign-in and SSO sessions."""

from __future__ import annotations

from dataclasses import dataclass

from ostiary.accounts import logout
from ostiary.accounts.deps import AccountDeps
from ostiary.crypto.tokens import SESSION_PREFIX, digest, new_secret
from ostiary.domain.sessions import Session
from ostiary.domain.users import User


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: Session
    user: User
    # Whether the user's roles or groups require MFA, when read with the session (None:
    # not read; ask ``Access.mfa_required_by``).
    access_requires_mfa: bool | None = None


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    user: User | None
    # Why it failed, for the audit log only: the person sees one message for all of them.
    reason: str | None
    # Who was meant (when the account exists), for the audit log.
    user_id: str | None = None


async def find_account(services: AccountDeps, username: str) -> User | None:
    """The account a password login names (None with local login switched off)."""
    if not services.settings.local_login:
        return None
    return await services.store.users.by_username(username)


async def check_password(
    services: AccountDeps,
    username: str,
    password: str,
    *,
    account: tuple[User | None] | None = None,
) -> PasswordCheck:
    """The user if the password is right and the account enabled; same cost either way.

    ``account``: what ``find_account`` returned for ``username``, when the caller read it
    already. With local login switched off (``OSTIARY_LOCAL_LOGIN=false``) no password is
    accepted.
    """
    if not services.settings.local_login:
        return PasswordCheck(None, "local_login_disabled")
    user = account[0] if account is not None else await find_account(services, username)
    ok = await services.passwords.verify(user.password_hash if user else None, password)
    if user is None:
        return PasswordCheck(None, "unknown_user")
    if not ok:
        return PasswordCheck(None, "bad_password", user.id)
    if user.disabled:
        return PasswordCheck(None, "disabled", user.id)
    if user.password_hash and services.passwords.needs_rehash(user.password_hash):
        await services.store.users.set_password_hash(
            user.id, await services.passwords.hash(password)
        )
    return PasswordCheck(user, None, user.id)


async def start_session(
    services: AccountDeps,
    user: User,
    previous: str | None,
    *,
    amr: tuple[str, ...] = ("pwd",),
    acr: str | None = None,
) -> str:
    """A new cookie value at each login (see ``sign_in``); the cookie value."""
    token, _ = await sign_in(services, user, previous, amr=amr, acr=acr)
    return token


async def sign_in(
    services: AccountDeps,
    user: User,
    previous: str | None,
    *,
    amr: tuple[str, ...] = ("pwd",),
    acr: str | None = None,
) -> tuple[str, SignedIn]:
    """A new cookie value at each login, so a planted session id is worthless.

    The same user signing in again keeps the session (its sid, and so the clients that
    logout must reach) with a fresh auth_time; another user's session is ended properly,
    back-channel logout included, before a new one starts. Returns the cookie value and
    who is signed in with it now. In a unit of work (``Store.unit_of_work``), a new
    session's row goes with the request's next write.
    """
    sessions = services.store.sessions
    ttl = services.settings.sessions.ttl
    token = new_secret(SESSION_PREFIX)
    if previous:
        old = await sessions.get_live(digest(previous))
        if old is not None and old.user_id == user.id:
            renewed = await sessions.reauthenticate(
                old.id_hash, digest(token), ttl=ttl, amr=amr, acr=acr
            )
            if renewed is not None:
                return token, SignedIn(renewed, user)
        elif old is not None:
            await logout.end_session(services, old)
        else:
            await sessions.delete(digest(previous))
    session = await sessions.add(id_hash=digest(token), user_id=user.id, ttl=ttl, amr=amr, acr=acr)
    return token, SignedIn(session, user)


async def current(services: AccountDeps, cookie: str | None) -> SignedIn | None:
    if not cookie or len(cookie) > 200:
        return None
    # One statement for both (one round trip); sessions cascade with their user, so a session
    # without one does not exist.
    found = await services.store.sessions.live_with_user(digest(cookie))
    if found is None:
        return None
    session, user, requires_mfa = found
    if user.disabled:
        return None
    return SignedIn(session, user, requires_mfa)


async def end_session(services: AccountDeps, cookie: str | None) -> None:
    if cookie:
        await services.store.sessions.delete(digest(cookie))
