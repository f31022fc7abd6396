"""Server-provided DPoP nonces (RFC 9449 §9) without stored state: a nonce names a time
step and carries an HMAC of it, so every process holding the same secret issues and
accepts the same nonces."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

_STEP_BYTES = 8
_MAC_BYTES = 16
NONCE_LENGTH = 32  # base64url of 24 bytes, no padding needed


class TimedNonces:
    """A ``NonceSource`` (``ostiary.resource.dpop``): the nonce changes every ``lifetime``
    seconds and is accepted during its own step and the next, so a client holding one is
    asked for a new one between ``lifetime`` and twice that after it was issued.

    ``secret`` (32 bytes or more) is shared by the processes of one resource server; by
    default each process draws its own, and a client that meets another process is simply
    asked to retry with that one's nonce (``use_dpop_nonce``)."""

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        lifetime: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret is not None and len(secret) < 32:
            raise ValueError("the nonce secret must be at least 32 bytes")
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.lifetime = lifetime
        self._clock = clock
        self._issued: tuple[int, str] = (-1, "")

    def _step(self) -> int:
        return int(self._clock() // self.lifetime)

    def _mac(self, step: bytes) -> bytes:
        return hmac.new(self._secret, b"ostiary-dpop-nonce\0" + step, hashlib.sha256).digest()

    def current(self) -> str:
        """The nonce to hand out now (in ``DPoP-Nonce``)."""
        step = self._step()
        if self._issued[0] != step:
            raw = step.to_bytes(_STEP_BYTES, "big")
            nonce = base64.urlsafe_b64encode(raw + self._mac(raw)[:_MAC_BYTES]).decode()
            self._issued = (step, nonce)
        return self._issued[1]

    def accepts(self, nonce: str) -> bool:
        """Whether ``nonce`` is one of ours, of this time step or the one before."""
        if len(nonce) != NONCE_LENGTH or not nonce.isascii():
            return False
        if nonce == self.current():
            return True
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except (binascii.Error, ValueError):
            return False
        step, mac = raw[:_STEP_BYTES], raw[_STEP_BYTES:]
        if int.from_bytes(step, "big") != self._step() - 1:
            return False
        return hmac.compare_digest(mac, self._mac(step)[:_MAC_BYTES])
