"""Authenticated encryption at rest (AES-256-GCM) under a key derived from the root secret."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"


class UnsealError(Exception):
    """The ciphertext was not sealed under this secret key (or was altered)."""


def derive_key(root_secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, so no two uses ever share a key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ostiary:" + purpose.encode()
    ).derive(root_secret)


class Sealer:
    def __init__(self, root_secret: bytes, purpose: str) -> None:
        self._aead = AESGCM(derive_key(root_secret, purpose))
        self._aad = purpose.encode()

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, self._aad)

    def unseal(self, sealed: bytes) -> bytes:
        if sealed[:1] != _VERSION:
            raise UnsealError("unknown sealing version")
        if len(sealed) < 1 + 12 + 16:
            raise UnsealError("sealed value is truncated")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], self._aad)
        except InvalidTag:
            raise UnsealError(
                "cannot decrypt: was OSTIARY_SECRET_KEY changed since this was stored?"
            ) from None
