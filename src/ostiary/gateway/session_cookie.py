"""Encrypted cookies: AES-256-GCM with keys derived from the gateway secrets (HKDF); the
first secret seals, every listed secret opens, so secrets can be rotated."""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"v1"
MAX_COOKIE_BYTES = 4000  # RFC 6265 §6.1: user agents need only keep 4096 bytes per cookie


class CookieError(ValueError):
    """A cookie that is not ours, was tampered with, or has expired."""


class CookieSealer:
    """Seals JSON payloads into cookie values. The cookie name is authenticated data, so
    a value sealed as one cookie (the login flow) cannot be replayed as another.

    With several secrets the first seals and all of them open: a cookie sealed under an
    older secret still opens, and ``unseal`` says so, so the caller can re-seal it."""

    def __init__(
        self, secrets: str | Sequence[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        listed = [secrets] if isinstance(secrets, str) else list(secrets)
        if not listed:
            raise ValueError("at least one gateway secret is needed")
        if any(len(secret.encode()) < 32 for secret in listed):
            raise ValueError("the gateway secret must be at least 32 bytes")
        self._aeads = [AESGCM(_derive(secret)) for secret in listed]
        self._clock = clock

    def seal(self, name: str, payload: dict[str, Any], ttl: float) -> str:
        body = dict(payload, _exp=int(self._clock() + ttl))
        nonce = os.urandom(12)
        plaintext = json.dumps(body, separators=(",", ":")).encode()
        sealed = nonce + self._aeads[0].encrypt(nonce, plaintext, _VERSION + name.encode())
        return _VERSION.decode() + "." + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, name: str, value: str) -> dict[str, Any]:
        return self.unseal(name, value)[0]

    def unseal(self, name: str, value: str) -> tuple[dict[str, Any], bool]:
        """The payload, and whether it was sealed under an older secret (re-seal it)."""
        version, _, data = value.partition(".")
        if version.encode() != _VERSION or len(data) > 2 * MAX_COOKIE_BYTES:
            raise CookieError("not a gateway cookie")
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        except (binascii.Error, ValueError):
            raise CookieError("the cookie does not open") from None
        for index, aead in enumerate(self._aeads):
            try:
                plaintext = aead.decrypt(raw[:12], raw[12:], _VERSION + name.encode())
            except (InvalidTag, ValueError):
                continue
            return self._checked(plaintext), index > 0
        raise CookieError("the cookie does not open")

    def _checked(self, plaintext: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(plaintext)
        except ValueError:
            raise CookieError("the cookie does not open") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("_exp"), int):
            raise CookieError("the cookie does not open")
        if payload["_exp"] <= self._clock():
            raise CookieError("the cookie has expired")
        return payload


def _derive(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"ostiary-gateway cookies v1"
    ).derive(secret.encode())


def set_cookie(
    name: str, value: str, *, max_age: int, secure: bool, path: str = "/"
) -> tuple[bytes, bytes]:
    """A Set-Cookie header: HttpOnly, SameSite=Lax, Secure on https (RFC 6265bis §4.1)."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
    if secure:
        parts.append("Secure")
    return (b"set-cookie", "; ".join(parts).encode())


def clear_cookie(name: str, *, secure: bool, path: str = "/") -> tuple[bytes, bytes]:
    return set_cookie(name, "", max_age=0, secure=secure, path=path)


def read_cookies(header: str) -> dict[str, str]:
    """Cookie header pairs (RFC 6265 §5.4); the first of duplicate names wins."""
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies
