"""Upstream key sets (RFC 7517 §5), cached, refetched on an unknown kid at most so often:
``ostiary.resource.jwks.KeySet`` (the resource kit's cache holds one long-lived HTTP
client), fetching through the caller's function so no connection outlives a call.
"""

from __future__ import annotations

from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from ostiary.resource.jwks import KeySet

Key = RSAKey | ECKey | OKPKey
_PUBLIC_TYPES = ("RSA", "EC", "OKP")


def _load(jwk: dict[str, Any]) -> tuple[str, Key] | None:
    kid = jwk.get("kid")
    if not isinstance(kid, str) or jwk.get("use", "sig") != "sig":
        return None
    # Only public asymmetric keys: a symmetric or private key in a JWKS is a mistake.
    if jwk.get("kty") not in _PUBLIC_TYPES or any(m in jwk for m in ("d", "p", "q", "k")):
        return None
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError):
        return None
    return kid, key  # type: ignore[return-value]


class UpstreamKeys(KeySet[Key]):
    """An upstream's signing keys, any public asymmetric key the set holds."""

    def _load(self, jwk: dict[str, Any]) -> tuple[str, Key] | None:
        return _load(jwk)
