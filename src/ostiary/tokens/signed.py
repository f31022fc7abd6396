"""Signing and checking our own JWTs with the key ring (RFC 7515, RFC 7519)."""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from typing import Any

import orjson
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning

from ostiary import clock
from ostiary.cache.bounded import BoundedCache
from ostiary.keys import compact
from ostiary.keys.manager import KeyManager, LoadedKey

# Only what we sign with; never "none", never HMAC (a public key is no MAC secret).
ALLOWED_ALGS = ["ES256", "RS256", "PS256", "EdDSA"]
MAX_TOKEN_LENGTH = 8192
# Signatures already checked, by the whole token: the same access token comes back to
# introspection, UserInfo and the admin API many times in its life, and an ECDSA verify is
# the largest cost of such a request. Only the signature check is remembered,
# tied to the very key object that passed it (a key dropped from the ring, or replaced,
# misses); typ, alg, kid, iss and exp are checked on every call. Kept by SHA-256 of the
# token, so memory holds no bearer token; oldest entries go first.
VERIFIED_MAX = 4096
_verified: BoundedCache[bytes, tuple[LoadedKey, dict[str, Any]]] = BoundedCache(
    VERIFIED_MAX, lru=False
)


class InvalidToken(Exception):
    pass


def _quiet(alg: str) -> contextlib.AbstractContextManager[object]:
    """RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519", and joserfc warns on
    each use. Relying parties still know only "EdDSA", so we keep offering it, on purpose."""
    if alg == "EdDSA":
        return warnings.catch_warnings(action="ignore", category=SecurityWarning)
    return contextlib.nullcontext()


def sign(keys: KeyManager, alg: str, claims: dict[str, Any], typ: str) -> str:
    key = keys.signing_key(alg)
    if key.compact is not None:
        return key.compact(claims, typ)
    header = {"alg": alg, "typ": typ, "kid": key.kid}
    with _quiet(alg):
        return jwt.encode(header, claims, key.key, algorithms=[alg])


def _checked_claims(
    loaded: LoadedKey, parts: compact.Parts, token: str, alg: str
) -> dict[str, Any]:
    key = hashlib.sha256(token.encode()).digest()
    seen = _verified.get(key)
    if seen is not None and seen[0] is loaded:
        return dict(seen[1])
    claims = _signature_checked(loaded, parts, token, alg)
    if isinstance(claims, dict):
        _verified.put(key, (loaded, dict(claims)))
    return claims


def _signature_checked(
    loaded: LoadedKey, parts: compact.Parts, token: str, alg: str
) -> dict[str, Any]:
    if loaded.check is None:
        try:
            with _quiet(alg):
                return jwt.decode(token, loaded.key, algorithms=[alg]).claims
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(f"bad signature: {exc}") from None
    if not loaded.check(parts.signing_input, parts.signature):
        raise InvalidToken("bad signature")
    try:
        claims = orjson.loads(parts.payload)
    except orjson.JSONDecodeError:
        raise InvalidToken("malformed claims") from None
    if not isinstance(claims, dict):
        raise InvalidToken("claims are not a JSON object")
    compact.remember_header(parts)
    return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


async def verify(
    keys: KeyManager,
    token: str,
    *,
    issuer: str,
    typ: set[str],
    allow_expired: bool = False,
) -> dict[str, Any]:
    """Check typ, algorithm, key, signature, iss and exp; return the claims."""
    if len(token) > MAX_TOKEN_LENGTH or not looks_like_jwt(token):
        raise InvalidToken("not a JWT")
    try:
        parts = compact.split(token)
    except (ValueError, UnicodeError) as exc:
        raise InvalidToken(f"malformed: {exc}") from None
    header = parts.header
    # RFC 7515 §4.1.11: we sign with no extension, so none is understood here.
    if "crit" in header or "b64" in header:
        raise InvalidToken("unsupported header parameter")
    token_typ = header.get("typ")
    if not isinstance(token_typ, str) or token_typ not in typ:
        raise InvalidToken("wrong typ")
    alg = header.get("alg")
    kid = header.get("kid")
    loaded = await keys.find(kid) if isinstance(kid, str) and len(kid) <= 128 else None
    if loaded is None or alg not in ALLOWED_ALGS or loaded.alg != alg:
        raise InvalidToken("unknown key or algorithm")
    claims = _checked_claims(loaded, parts, token, alg)
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong issuer")
    exp = claims.get("exp")
    if not isinstance(exp, int) or (not allow_expired and exp <= clock.now()):
        raise InvalidToken("expired")
    return claims
