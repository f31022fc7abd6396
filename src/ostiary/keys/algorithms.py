"""The JWS algorithms Ostiary signs with, and how to make a key for each (RFC 7518 §3)."""

from __future__ import annotations

from collections.abc import Callable

from joserfc.jwk import ECKey, OKPKey, RSAKey

SigningKey = ECKey | RSAKey | OKPKey

_GENERATORS: dict[str, Callable[[], SigningKey]] = {
    "ES256": lambda: ECKey.generate_key("P-256", private=True),
    "RS256": lambda: RSAKey.generate_key(2048, private=True),
    "PS256": lambda: RSAKey.generate_key(2048, private=True),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519", private=True),
}

SUPPORTED = tuple(_GENERATORS)


def generate(alg: str) -> SigningKey:
    try:
        return _GENERATORS[alg]()
    except KeyError:
        raise ValueError(f"unsupported signing algorithm {alg!r}") from None
