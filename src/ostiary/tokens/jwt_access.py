"""JWT access tokens (RFC 9068) signed and checked with the key ring."""

from __future__ import annotations

from typing import Any

from ostiary.keys.manager import KeyManager
from ostiary.tokens import signed
from ostiary.tokens.signed import ALLOWED_ALGS, MAX_TOKEN_LENGTH, looks_like_jwt

ACCESS_TOKEN_TYP = "at+jwt"
# RFC 9068 §4: the typ header MUST be checked; both spellings are allowed.
_ACCEPTED_TYP = {"at+jwt", "application/at+jwt"}

InvalidAccessToken = signed.InvalidToken

__all__ = ["ALLOWED_ALGS", "MAX_TOKEN_LENGTH", "decode", "encode", "looks_like_jwt"]


def encode(keys: KeyManager, alg: str, claims: dict[str, Any]) -> str:
    return signed.sign(keys, alg, claims, ACCESS_TOKEN_TYP)


async def decode(
    keys: KeyManager, token: str, *, issuer: str, allow_expired: bool = False
) -> dict[str, Any]:
    """Verify signature, typ, iss and exp; return the claims (RFC 9068 §4)."""
    claims = await signed.verify(
        keys, token, issuer=issuer, typ=_ACCEPTED_TYP, allow_expired=allow_expired
    )
    if not isinstance(claims.get("jti"), str):
        raise InvalidAccessToken("no jti")
    return claims
