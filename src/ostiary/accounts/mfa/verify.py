"""Checking a typed second factor (a TOTP code or a recovery code) for a user who has
passed the first: the account lockout, the audit trail and the amr it adds.

Wrong codes count toward the same per-account lockout as wrong passwords
(``accounts.throttle``), so a stolen password does not buy unlimited guesses at the code:
the account's failures are forgiven only once the second factor is right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ostiary.accounts import throttle
from ostiary.accounts.deps import AccountDeps
from ostiary.accounts.mfa import recovery, totp
from ostiary.domain.mfa import AMR_MFA, AMR_OTP, AMR_RECOVERY
from ostiary.domain.users import User

Method = Literal["totp", "recovery"]


@dataclass(frozen=True, slots=True)
class Checked:
    ok: bool
    # The methods the check adds to the session's amr (RFC 8176).
    amr: tuple[str, ...] = ()
    # Seconds the account is locked for (the code was not looked at).
    wait: int = 0
    # With a recovery code: how many unused ones are left.
    recovery_left: int | None = None


async def check_code(
    services: AccountDeps,
    user: User,
    method: Method,
    code: str,
    *,
    ip: str | None,
    client_id: str | None = None,
) -> Checked:
    keys = [throttle.account_key(user.username)]
    checked = await services.throttle.check(keys)
    audit = {"user_id": user.id, "client_id": client_id, "ip": ip}
    if checked.wait:
        await services.audit.record(
            "mfa.failed",
            actor=f"user:{user.id}",
            outcome="failure",
            reason="locked",
            details={"method": method},
            **audit,
        )
        return Checked(False, wait=checked.wait)
    left = None
    if method == "totp":
        factor = await totp.verify(services.store.factors, services.settings, user.id, code)
        ok, amr = factor is not None, (AMR_OTP, AMR_MFA)
    else:
        left = await recovery.use(services.store.factors, user.id, code)
        ok, amr = left is not None, (AMR_RECOVERY, AMR_MFA)
    if not ok:
        await services.throttle.failed(keys)
        await services.audit.record(
            "mfa.failed",
            actor=f"user:{user.id}",
            outcome="failure",
            reason="wrong_code",
            details={"method": method},
            **audit,
        )
        return Checked(False)
    await services.throttle.succeeded(keys, checked)
    if left is not None:
        await services.audit.record(
            "mfa.recovery_code_used", actor=f"user:{user.id}", details={"left": left}, **audit
        )
    return Checked(True, amr=amr, recovery_left=left)
