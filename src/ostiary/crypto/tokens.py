"""Random opaque secrets with scanner-friendly prefixes, stored only as SHA-256 digests.

A server-generated secret has 256 bits of entropy, so a fast hash is enough: nobody can
search that space, and a slow password hash would only cap the token endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CLIENT_SECRET_PREFIX = "ost_cs_"
REFRESH_TOKEN_PREFIX = "ost_rt_"
AUTHORIZATION_CODE_PREFIX = "ost_ac_"
SESSION_PREFIX = "ost_ss_"


def new_secret(prefix: str) -> str:
    """A prefixed URL-safe string carrying 256 random bits."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def matches(secret: str, stored_digest: bytes | None) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    if stored_digest is None:
        return False
    return hmac.compare_digest(digest(secret), stored_digest)
