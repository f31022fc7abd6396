"""Upstream client secrets in a state document: sealed, never in clear.

Deterministic authenticated encryption (AES-SIV, RFC 5297) under keys derived from
``OSTIARY_SECRET_KEY``: the same secret exports as the same text every time, so a
git-managed file changes only when the secret does. Only equality leaks, and the
provider's name is bound in as associated data, so a sealed value cannot be moved to
another provider. A document records the key id it was sealed under; import accepts its
sealed values only under the same key.
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ostiary.crypto.sealing import derive_key

_CONTEXT = b"ostiary-state:provider-client-secret"


class SealedSecretError(ValueError):
    """A sealed value this secret key did not make (or an altered one)."""


def key_id(root_secret: bytes) -> str:
    """Names the secret key without revealing anything about it (an HKDF output)."""
    return _b64(derive_key(root_secret, "state-export:key-id"))[:16]


def _siv(root_secret: bytes) -> AESSIV:
    # AES-256-SIV takes a 512-bit key: two derived halves.
    return AESSIV(
        derive_key(root_secret, "state-export:siv-1")
        + derive_key(root_secret, "state-export:siv-2")
    )


def seal(root_secret: bytes, provider: str, secret: str) -> str:
    sealed = _siv(root_secret).encrypt(secret.encode(), [_CONTEXT, provider.encode()])
    return _b64(sealed)


def unseal(root_secret: bytes, provider: str, sealed: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        return _siv(root_secret).decrypt(raw, [_CONTEXT, provider.encode()]).decode()
    except (ValueError, InvalidTag, UnicodeDecodeError):
        raise SealedSecretError(
            "client_secret_sealed was not sealed for this provider under this secret key"
        ) from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
