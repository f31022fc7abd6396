"""Validation of an upstream ID token, OIDC Core §3.1.3.7 (and at_hash, §3.1.3.8)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Collection
from typing import Any, TypeGuard

import orjson
from joserfc import jws
from joserfc.errors import JoseError

from ostiary import clock
from ostiary.federation.errors import upstream_error
from ostiary.federation.jwks import UpstreamKeys

LEEWAY = 60
MAX_AGE = 600
# Core §3.1.3.7 step 6/7: asymmetric signatures only; never "none", no MAC with our secret.
ALLOWED_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_HASH = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


async def verify(
    token: str,
    *,
    keys: UpstreamKeys,
    algorithms: Collection[str],
    client_id: str,
    nonce: str,
    issuers: Callable[[dict[str, Any]], Collection[str]],
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims if every check passes; otherwise a FederationError (502) saying which."""
    if token.count(".") != 2:
        # Step 1: an encrypted ID token (five parts) is not something we asked for.
        raise upstream_error("ID token is not a compact JWS")
    try:
        unverified = jws.extract_compact(token.encode())
    except (JoseError, ValueError, TypeError):
        raise upstream_error("ID token is malformed") from None
    header = unverified.headers()
    alg, kid = header.get("alg"), header.get("kid")
    allowed = ALLOWED_ALGS & set(algorithms)
    if alg not in allowed:
        raise upstream_error(f"ID token alg {alg!r} is not one of {sorted(allowed)}")
    key = await keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise upstream_error(f"no key {kid!r} in the provider's JWKS")
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[alg])
        claims = jws_json(verified.payload)
    except (JoseError, ValueError, TypeError):
        raise upstream_error("ID token signature does not verify") from None
    check_claims(claims, client_id=client_id, nonce=nonce, issuers=issuers(claims))
    if access_token is not None and "at_hash" in claims:
        check_at_hash(claims["at_hash"], access_token, alg)
    return claims


def jws_json(payload: bytes) -> dict[str, Any]:
    claims = orjson.loads(payload)
    if not isinstance(claims, dict):
        raise ValueError("claims are not a JSON object")
    return claims


def check_claims(
    claims: dict[str, Any], *, client_id: str, nonce: str, issuers: Collection[str]
) -> None:
    now = clock.now()
    # Step 2: the issuer matches exactly.
    if claims.get("iss") not in issuers:
        raise upstream_error(f"ID token iss {claims.get('iss')!r} is not the provider's")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise upstream_error("ID token has no usable sub")
    # Step 3: our client_id is an audience.
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise upstream_error("ID token is not for this client (aud)")
    # Steps 4-5: with several audiences azp must be there, and azp must be us.
    azp = claims.get("azp")
    if (len(audiences) > 1 and azp is None) or (azp is not None and azp != client_id):
        raise upstream_error("ID token azp is not this client")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _number(exp) or not _number(iat):
        raise upstream_error("ID token lacks exp or iat")
    # Step 9: not expired (small leeway for clock skew).
    if exp <= now - LEEWAY:
        raise upstream_error("ID token has expired")
    # Step 10: issued recently, and not in the future.
    if iat > now + LEEWAY or iat < now - MAX_AGE:
        raise upstream_error("ID token iat is out of range")
    # Step 11: the nonce we sent, compared in constant time.
    got = claims.get("nonce")
    if not isinstance(got, str) or not secrets.compare_digest(got.encode(), nonce.encode()):
        raise upstream_error("ID token nonce does not match the request")


def check_at_hash(at_hash: Any, access_token: str, alg: str) -> None:
    """Core §3.1.3.8: left half of the hash of the access token, base64url."""
    digest = _HASH.get(alg[-3:], hashlib.sha512)(access_token.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()
    if not isinstance(at_hash, str) or not secrets.compare_digest(at_hash, expected):
        raise upstream_error("ID token at_hash does not match the access token")


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
