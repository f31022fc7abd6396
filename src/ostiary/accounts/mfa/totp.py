"""Time-based one-time passwords (RFC 6238) as a second factor.

30-second steps, 6 digits, SHA-1 (what every authenticator app reads from an
``otpauth://`` URI); a code of the current step or one step either side is accepted
(RFC 6238 §5.2, allowing for clock drift and the time to type it) and each step once:
a code seen once, or one from a step before the last one used, is refused.
"""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

import pyotp
import segno

from ostiary import clock
from ostiary.crypto.sealing import Sealer
from ostiary.domain.mfa import Factor
from ostiary.domain.repositories import Factors
from ostiary.settings import Settings

STEP = 30
DIGITS = 6
DRIFT = 1
# 160 bits, as RFC 4226 §4 recommends for the shared secret.
SECRET_BYTES = 20
DEFAULT_NAME = "Authenticator app"
# A secret not confirmed within this many seconds is abandoned: no longer shown, and
# deleted when the user starts another.
ENROLMENT_TTL = 600
# Unfinished setups one user may have at a time (several tabs, several sign-ins): starting
# more drops the oldest, so repeated requests cannot fill the table.
MAX_UNFINISHED = 5


def sealer(settings: Settings) -> Sealer:
    return Sealer(settings.require_secret_key(), "mfa-totp-secrets")


def new_secret() -> str:
    """A fresh base32 secret (what an authenticator app is given)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI an authenticator app scans (Key Uri Format)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=account, issuer_name=issuer
    )


def issuer_label(settings: Settings) -> str:
    """How the account is labelled in an authenticator app: the host people reach us at."""
    return urlsplit(settings.issuer).hostname or "Ostiary"


def normalise(code: str) -> str | None:
    """The digits of a code as typed (spaces allowed), or None if it cannot be one."""
    digits = "".join(code.split())
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else None


def matching_step(secret: str, code: str, now: int) -> int | None:
    """The time step within ±DRIFT of ``now`` whose code is ``code`` (None: none)."""
    digits = normalise(code)
    if digits is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    current = now // STEP
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        # Every candidate is compared (constant time each), so timing tells nothing.
        if secrets.compare_digest(totp.generate_otp(step), digits):
            found = step
    return found


def abandoned(factor: Factor, now: int) -> bool:
    return not factor.confirmed and factor.created_at < now - ENROLMENT_TTL


async def begin(factors: Factors, settings: Settings, user_id: str, name: str) -> tuple[str, str]:
    """Store a new, unconfirmed TOTP factor; (its id, the base32 secret to show once).
    The user's abandoned setups go, and the oldest unfinished ones beyond the bound."""
    now = clock.now()
    unfinished = [f for f in await factors.for_user(user_id) if not f.confirmed]
    young = [f for f in unfinished if not abandoned(f, now)]
    dropped = [f for f in unfinished if abandoned(f, now)]
    dropped += young[: max(0, len(young) - MAX_UNFINISHED + 1)]
    for old in dropped:
        await factors.delete(old.id, user_id)
    secret = new_secret()
    factor = Factor(
        id=str(uuid.uuid4()),
        user_id=user_id,
        kind="totp",
        name=name,
        created_at=now,
        confirmed=False,
        secret=sealer(settings).seal(secret.encode()),
    )
    await factors.add(factor)
    return factor.id, secret


def secret_of(settings: Settings, factor: Factor) -> str:
    assert factor.secret is not None
    return sealer(settings).unseal(factor.secret).decode()


async def confirm(
    factors: Factors, settings: Settings, user_id: str, factor_id: str, code: str
) -> bool:
    """The first code from a new secret: it counts from now on if the code is current."""
    factor = await factors.get(factor_id)
    if factor is None or factor.user_id != user_id or factor.kind != "totp" or factor.confirmed:
        return False
    step = matching_step(secret_of(settings, factor), code, clock.now())
    return step is not None and await factors.confirm(factor_id, last_step=step)


async def verify(factors: Factors, settings: Settings, user_id: str, code: str) -> Factor | None:
    """The confirmed TOTP factor of the user that ``code`` is current for, its step used up
    (None: no factor has it, or its step was used already)."""
    now = clock.now()
    for factor in await factors.for_user(user_id):
        if factor.kind != "totp" or not factor.confirmed:
            continue
        step = matching_step(secret_of(settings, factor), code, now)
        if step is not None and await factors.use_step(factor.id, step):
            return factor
    return None


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an inline SVG element (no image request, no script)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, title="Authenticator QR code")
    return svg
