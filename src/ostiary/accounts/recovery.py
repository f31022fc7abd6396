"""Password reset and email verification: one-time links sent by mail.

A link carries a prefixed random secret (256 bits); only its SHA-256 digest is stored,
it works once, and briefly (reset 30 minutes, verification 24 hours). Neither the secret
nor the link is ever logged or written to the audit trail.
"""

from __future__ import annotations

import hashlib
import logging

from ostiary.accounts import lifecycle, mail, password_policy, throttle
from ostiary.accounts.deps import AccountDeps
from ostiary.crypto.tokens import digest, new_secret
from ostiary.domain.one_time_tokens import OneTimeToken
from ostiary.domain.users import User

log = logging.getLogger("ostiary.accounts")

RESET_PREFIX = "ost_rs_"
VERIFY_PREFIX = "ost_ev_"
RESET = "reset"
VERIFY = "verify"
RESET_TTL = 30 * 60
VERIFY_TTL = 24 * 3600
MAX_TOKEN_LENGTH = 100


class InvalidLink(Exception):
    """The link is unknown, used, expired, or for something else."""


class WeakPassword(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


def _digest_of(token: str | None, prefix: str) -> bytes | None:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(prefix):
        return None
    return digest(token)


async def _issue(services: AccountDeps, user: User, purpose: str, prefix: str, ttl: int) -> str:
    token = new_secret(prefix)
    await services.store.one_time_tokens.add(
        token_hash=digest(token), user_id=user.id, purpose=purpose, ttl=ttl, email=user.email
    )
    return token


# -- password reset ----------------------------------------------------------------------


async def account_for(services: AccountDeps, identifier: str) -> User | None:
    """The enabled account with this username, or else the one with this email address.

    An address several accounts share (rows stored before addresses were unique, see
    ``storage.email_index``) names none of them, whichever way the account was named: a
    link mailed there could reach the owner of another account than the one it resets.
    Nothing is sent, exactly as for an unknown name, and the operator is told in the log.
    """
    identifier = identifier.strip()
    if not identifier or len(identifier) > 320:
        return None
    user = await services.store.users.by_username(identifier)
    if user is None and "@" in identifier:
        found = await services.store.accounts.email_holders(identifier, limit=1)
        user = await services.store.users.get(found[0]) if found else None
    if user is None or user.disabled or not user.email:
        return None
    sharing = await services.store.accounts.email_holders(user.email)
    if len(sharing) > 1:
        log.warning(
            "password reset for an account whose email address other accounts share "
            "(%s and maybe more): nothing sent; see `ostiary user list --duplicate-emails`",
            ", ".join(sharing),
        )
        return None
    return user


async def request_reset(services: AccountDeps, identifier: str, ip: str | None) -> None:
    """Mail a reset link to the account named; run after the response, so the person
    asking learns nothing (same answer, same time) whether an account exists."""
    # Hashed: the throttle table should not collect addresses of people with no account.
    named = hashlib.sha256(identifier.strip().casefold().encode()).hexdigest()[:32]
    keys = ["reset:" + named, throttle.ip_key(ip, "reset")]
    if await services.throttle.wait_seconds(keys):
        log.info("password reset request throttled")
        return
    # Every request counts as a "failure": the lock caps how much mail one address or
    # one sender can cause, and never touches the account's login counter.
    await services.throttle.failed(keys)
    user = await account_for(services, identifier)
    if user is None:
        return
    token = await _issue(services, user, RESET, RESET_PREFIX, RESET_TTL)
    link = f"{services.settings.issuer}/account/reset?token={token}"
    await services.audit.record(
        "password.reset_requested", actor="anonymous", user_id=user.id, ip=ip
    )
    await mail.send(services.settings.smtp, _reset_mail(user, link))


def _reset_mail(user: User, link: str) -> mail.Mail:
    body = (
        f"Someone, hopefully you, asked to reset the password of the account "
        f'"{user.username}".\n\n'
        f"To choose a new password, open this link within {RESET_TTL // 60} minutes:\n\n"
        f"{link}\n\n"
        "The link works once. If you did not ask for this, ignore this mail: your password "
        "stays as it is.\n"
    )
    assert user.email is not None
    return mail.Mail(user.email, "Reset your password", body, "password-reset", user.id)


async def peek_reset(services: AccountDeps, token: str | None) -> User:
    """The account a reset link is for, without using the link (to show the form)."""
    token_hash = _digest_of(token, RESET_PREFIX)
    found = await services.store.one_time_tokens.peek(token_hash, RESET) if token_hash else None
    user = await services.store.users.get(found.user_id) if found else None
    if user is None or user.disabled:
        raise InvalidLink
    return user


async def reset_password(
    services: AccountDeps, token: str | None, new_password: str, *, ip: str | None = None
) -> User:
    """Set a new password through a reset link; the link is used up only on success.

    Every session ends and every refresh token is revoked: a reset often follows a
    compromise, and whoever got in must be out afterwards.
    """
    user = await peek_reset(services, token)
    found = password_policy.problems(
        new_password,
        min_length=services.settings.passwords.min_length,
        username=user.username,
        email=user.email,
    )
    if found:
        raise WeakPassword(found)
    new_hash = await services.passwords.hash(new_password)
    token_hash = _digest_of(token, RESET_PREFIX)
    assert token_hash is not None
    used: OneTimeToken | None = await services.store.one_time_tokens.use(token_hash, RESET)
    # Used between the peek and here (a double submit): only the first one counts.
    if used is None or used.user_id != user.id:
        raise InvalidLink
    await services.store.users.set_password_hash(user.id, new_hash)
    await services.store.one_time_tokens.drop_for_user(user.id, RESET)
    ended = await lifecycle.end_sessions(services, user.id)
    revoked = await lifecycle.revoke_user_tokens(services, user.id)
    # The lock protected the old password; the new one starts with a clean slate.
    await services.throttle.unlock([throttle.account_key(user.username)])
    await services.audit.record(
        "password.reset",
        actor=f"user:{user.id}",
        user_id=user.id,
        ip=ip,
        details={"sessions_ended": ended, "refresh_grants_revoked": revoked},
    )
    return user


# -- email verification --------------------------------------------------------------------


async def send_verification(services: AccountDeps, user: User) -> bool:
    """Mail a verification link for the user's current address; False if not sent."""
    if not user.email:
        return False
    await services.store.one_time_tokens.drop_for_user(user.id, VERIFY)
    token = await _issue(services, user, VERIFY, VERIFY_PREFIX, VERIFY_TTL)
    link = f"{services.settings.issuer}/account/verify?token={token}"
    body = (
        f'To confirm that {user.email} belongs to the account "{user.username}", open this '
        f"link within {VERIFY_TTL // 3600} hours:\n\n{link}\n\n"
        "If you did not ask for this, ignore this mail.\n"
    )
    message = mail.Mail(user.email, "Confirm your email address", body, "email-verify", user.id)
    return await mail.send(services.settings.smtp, message)


async def verify_email(services: AccountDeps, token: str | None) -> User:
    """Mark the address verified, if it is still the one the link was sent to."""
    token_hash = _digest_of(token, VERIFY_PREFIX)
    used = await services.store.one_time_tokens.use(token_hash, VERIFY) if token_hash else None
    user = await services.store.users.get(used.user_id) if used else None
    if used is None or user is None or not user.email or not used.email:
        raise InvalidLink
    # The address changed after the mail went out: the link proves nothing about the new one.
    if user.email.casefold() != used.email.casefold():
        raise InvalidLink
    await services.store.users.update_profile(user.id, email_verified=True)
    # No address in the details: pseudonymising a deleted user's events leaves details as is.
    await services.audit.record("email.verified", actor=f"user:{user.id}", user_id=user.id)
    return user
