"""JWT access tokens (RFC 9068) signed and checked with the key ring."""

from __future__ import annotations

from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from ostiary import clock
from ostiary.keys.manager import KeyManager

ACCESS_TOKEN_TYP = "at+jwt"
# RFC 9068 §4: the typ header MUST be checked; both spellings are allowed.
_ACCEPTED_TYP = {"at+jwt", "application/at+jwt"}
# Only what we sign with; never "none", never HMAC (a public key is no MAC secret).
ALLOWED_ALGS = ["ES256", "RS256", "PS256", "EdDSA"]
MAX_TOKEN_LENGTH = 8192


class InvalidAccessToken(Exception):
    pass


def encode(keys: KeyManager, alg: str, claims: dict[str, Any]) -> str:
    key = keys.signing_key(alg)
    header = {"alg": alg, "typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    return jwt.encode(header, claims, key.key, algorithms=[alg])


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


async def decode(
    keys: KeyManager, token: str, *, issuer: str, allow_expired: bool = False
) -> dict[str, Any]:
    """Verify signature, typ, iss and exp; return the claims (RFC 9068 §4)."""
    if len(token) > MAX_TOKEN_LENGTH or not looks_like_jwt(token):
        raise InvalidAccessToken("not a JWT")
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidAccessToken(f"malformed: {exc}") from None
    if header.get("typ") not in _ACCEPTED_TYP:
        raise InvalidAccessToken("wrong typ")
    alg = header.get("alg")
    kid = header.get("kid")
    loaded = await keys.find(kid) if isinstance(kid, str) and len(kid) <= 128 else None
    if loaded is None or alg not in ALLOWED_ALGS or loaded.alg != alg:
        raise InvalidAccessToken("unknown key or algorithm")
    try:
        claims = jwt.decode(token, loaded.key, algorithms=[alg]).claims
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidAccessToken(f"bad signature: {exc}") from None
    if claims.get("iss") != issuer:
        raise InvalidAccessToken("wrong issuer")
    exp = claims.get("exp")
    if not isinstance(exp, int) or (not allow_expired and exp <= clock.now()):
        raise InvalidAccessToken("expired")
    if not isinstance(claims.get("jti"), str):
        raise InvalidAccessToken("no jti")
    return claims
