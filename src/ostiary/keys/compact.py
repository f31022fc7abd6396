"""JWS compact serialization (RFC 7515 §7.1) for the tokens we sign, on the hot path.

Same bytes a general JOSE library would produce, with less work per token: the protected
header of each (key, typ) is encoded once, the claims go through orjson, and the signature
is made by ``cryptography`` directly (RFC 7518 §3.3 RSASSA-PKCS1-v1_5, §3.4 ECDSA with the
raw R || S form, §3.5 RSASSA-PSS with a salt as long as the hash, RFC 8037 §3.1 EdDSA).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

Signer = Callable[[bytes], bytes]
MAX_HEADERS = 64


def b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _es256(key: ec.EllipticCurvePrivateKey) -> Signer:
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("ES256 needs a P-256 key")

    def sign(data: bytes) -> bytes:
        # RFC 7518 §3.4: the signature is R and S as 32-byte big-endian integers, not DER.
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def _rs256(key: rsa.RSAPrivateKey) -> Signer:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _ps256(key: rsa.RSAPrivateKey) -> Signer:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return lambda data: key.sign(data, pss, hashes.SHA256())


def _eddsa(key: ed25519.Ed25519PrivateKey) -> Signer:
    return key.sign


_FACTORIES: dict[str, tuple[type, Callable[[Any], Signer]]] = {
    "ES256": (ec.EllipticCurvePrivateKey, _es256),
    "RS256": (rsa.RSAPrivateKey, _rs256),
    "PS256": (rsa.RSAPrivateKey, _ps256),
    "EdDSA": (ed25519.Ed25519PrivateKey, _eddsa),
}


def signer_for(alg: str, private_key: object) -> Signer | None:
    """A signing function for ``alg``, or None when this module does not cover the pair."""
    entry = _FACTORIES.get(alg)
    if entry is None or not isinstance(private_key, entry[0]):
        return None
    return entry[1](private_key)


class CompactSigner:
    """Signs claims as ``header.payload.signature`` with one key; headers cached per typ."""

    def __init__(self, alg: str, kid: str, sign: Signer) -> None:
        self._alg = alg
        self._kid = kid
        self._sign = sign
        self._headers: dict[str, bytes] = {}

    def _header(self, typ: str) -> bytes:
        header = self._headers.get(typ)
        if header is None:
            header = b64url(orjson.dumps({"alg": self._alg, "typ": typ, "kid": self._kid}))
            if len(self._headers) < MAX_HEADERS:
                self._headers[typ] = header
        return header

    def __call__(self, claims: dict[str, Any], typ: str) -> str:
        signing_input = self._header(typ) + b"." + b64url(orjson.dumps(claims))
        return (signing_input + b"." + b64url(self._sign(signing_input))).decode("ascii")


Verifier = Callable[[bytes, bytes], bool]


def _es256_check(key: ec.EllipticCurvePublicKey) -> Verifier:
    def verify(data: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    return verify


def _guarded(check: Callable[[bytes, bytes], None]) -> Verifier:
    def verify(data: bytes, signature: bytes) -> bool:
        try:
            check(signature, data)
        except InvalidSignature:
            return False
        return True

    return verify


_CHECKS: dict[str, tuple[type, Callable[[Any], Verifier]]] = {
    "ES256": (ec.EllipticCurvePublicKey, _es256_check),
    "RS256": (
        rsa.RSAPublicKey,
        lambda k: _guarded(lambda s, d: k.verify(s, d, padding.PKCS1v15(), hashes.SHA256())),
    ),
    "PS256": (
        rsa.RSAPublicKey,
        lambda k: _guarded(
            lambda s, d: k.verify(
                s,
                d,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
        ),
    ),
    "EdDSA": (ed25519.Ed25519PublicKey, lambda k: _guarded(k.verify)),
}


def verifier_for(alg: str, public_key: object) -> Verifier | None:
    """A signature check for ``alg``, or None when this module does not cover the pair."""
    entry = _CHECKS.get(alg)
    if entry is None or not isinstance(public_key, entry[0]):
        return None
    if alg == "ES256" and not isinstance(public_key.curve, ec.SECP256R1):  # type: ignore[attr-defined]
        return None
    return entry[1](public_key)


_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")
_headers: dict[bytes, dict[str, Any]] = {}


def b64url_decode(segment: bytes) -> bytes:
    """RFC 7515 §2 base64url without padding; anything else is an error."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


@dataclass(frozen=True, slots=True)
class Parts:
    header_segment: bytes
    header: dict[str, Any]
    signing_input: bytes
    payload: bytes
    signature: bytes


def split(token: str) -> Parts:
    """The parts of a compact JWS (RFC 7515 §7.1), base64url-decoded."""
    raw = token.encode("ascii")
    segments = raw.split(b".")
    if len(segments) != 3:
        raise ValueError("not a compact JWS")
    header = _headers.get(segments[0])
    if header is None:
        header = orjson.loads(b64url_decode(segments[0]))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    return Parts(
        segments[0],
        header,
        raw[: len(segments[0]) + 1 + len(segments[1])],
        b64url_decode(segments[1]),
        b64url_decode(segments[2]),
    )


def remember_header(parts: Parts) -> None:
    """Keep a header that belonged to a verified token: one per key and typ, so few."""
    if len(_headers) < MAX_HEADERS:
        _headers[parts.header_segment] = parts.header
