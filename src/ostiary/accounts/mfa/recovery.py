"""Recovery codes: ten single-use codes that stand in for a lost second factor.

Each code is ten characters of Crockford's base32 (50 random bits), shown as two groups
of five; only its SHA-256 digest is kept. Typed codes are compared case-insensitively,
with spaces and dashes ignored.
"""

from __future__ import annotations

import hashlib
import secrets

from ostiary.domain.mfa import RECOVERY_CODE_COUNT
from ostiary.domain.repositories import Factors

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
LENGTH = 10


def new_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        codes.add(f"{raw[:5]}-{raw[5:]}")
    return sorted(codes)


def normalise(code: str) -> str | None:
    """The code's characters as stored, or None if it cannot be a recovery code."""
    raw = "".join(c for c in code.lower() if c not in " -\t")
    # Crockford's base32 reads the letters people confuse with digits as those digits.
    raw = raw.translate(str.maketrans("oil", "011"))
    if len(raw) != LENGTH or any(c not in ALPHABET for c in raw):
        return None
    return raw


def digest(code: str) -> bytes | None:
    raw = normalise(code)
    return hashlib.sha256(raw.encode()).digest() if raw else None


async def replace(factors: Factors, user_id: str) -> list[str]:
    """A fresh set of codes for the user (the old ones stop working); shown once."""
    codes = new_codes()
    await factors.set_recovery_codes(user_id, [_digest_of(c) for c in codes])
    return codes


def _digest_of(code: str) -> bytes:
    hashed = digest(code)
    assert hashed is not None  # a code made here is well formed
    return hashed


async def for_first_factor(factors: Factors, user_id: str, factor_id: str) -> list[str]:
    """Ten new codes (shown once) when ``factor_id`` is the user's first confirmed factor
    and none are left from before; otherwise none (the codes the user has stand)."""
    others = [f for f in await factors.for_user(user_id) if f.confirmed and f.id != factor_id]
    if others or await factors.recovery_codes_left(user_id):
        return []
    return await replace(factors, user_id)


async def use(factors: Factors, user_id: str, code: str) -> int | None:
    """Use a code once; how many are left (None: not one of the user's unused codes)."""
    hashed = digest(code)
    if hashed is None:
        return None
    return await factors.use_recovery_code(user_id, hashed)
