"""Passkeys without a browser, and Chromium's virtual authenticator for the tests with one.

``SoftAuthenticator`` answers creation and request options the way a platform
authenticator does (WebAuthn Level 3 §6.1 authenticator data, §6.5.4 attested credential
data, "none" attestation §8.7, ES256 signatures), as the JSON a browser's ``toJSON()``
gives (§5.1.8, §5.2.3), with every flag and the counter under the test's control.
``VirtualAuthenticator`` is the same thing inside Chromium, through the Chrome DevTools
Protocol's WebAuthn domain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import CDPSession, Page

# §6.1 authenticator data flags.
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cose_es256(key: ec.EllipticCurvePrivateKey) -> bytes:
    """RFC 9053 §7.1.1 / RFC 8152 §13.1.1: an EC2 P-256 public key, alg ES256."""
    numbers = key.public_key().public_numbers()
    return cbor2.dumps(
        {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
    )


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    """One authenticator holding any number of credentials."""

    user_verifying: bool = True
    backup_eligible: bool = False
    backed_up: bool = False
    # 0: a counter that never moves (as synced passkeys report).
    counter_step: int = 1
    credential_id_length: int = 16
    credentials: list[SoftCredential] = field(default_factory=list)

    def _flags(self, *, attested: bool, uv: bool | None) -> int:
        flags = UP | (UV if (self.user_verifying if uv is None else uv) else 0)
        flags |= (BE if self.backup_eligible else 0) | (BS if self.backed_up else 0)
        return flags | (AT if attested else 0)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        body = {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        return json.dumps(body).encode()

    def create(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        rk: bool | None = True,
        rp_id: str | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.create(): a new credential for ``options``."""
        rp = rp_id or options["rp"]["id"]
        credential = SoftCredential(
            secrets.token_bytes(self.credential_id_length),
            ec.generate_private_key(ec.SECP256R1()),
            rp,
            unb64url(options["user"]["id"]),
        )
        self.credentials.append(credential)
        attested = (
            bytes(16)  # AAGUID: zeros for "none" attestation
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + _cose_es256(credential.key)
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(attested=True, uv=None)])
            + struct.pack(">I", credential.sign_count)
            + attested
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        extensions = {} if rk is None else {"credProps": {"rk": rk}}
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": extensions,
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        credential: SoftCredential | None = None,
        sign_count: int | None = None,
        uv: bool | None = None,
        user_handle: bytes | bool | None = True,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(): an assertion by ``credential`` (default: the
        first one of the RP the options allow). ``sign_count`` overrides the counter;
        ``user_handle``: True sends the credential's own, None none, bytes those bytes."""
        chosen = credential or self._allowed(options)
        if sign_count is None:
            chosen.sign_count += self.counter_step
            sign_count = chosen.sign_count
        auth_data = (
            hashlib.sha256(chosen.rp_id.encode()).digest()
            + bytes([self._flags(attested=False, uv=uv)])
            + struct.pack(">I", sign_count)
        )
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = chosen.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        handle = chosen.user_handle if user_handle is True else user_handle
        if isinstance(handle, bytes):
            response["userHandle"] = b64url(handle)
        return {
            "id": b64url(chosen.credential_id),
            "rawId": b64url(chosen.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def _allowed(self, options: dict[str, Any]) -> SoftCredential:
        allowed = {unb64url(c["id"]) for c in options.get("allowCredentials") or []}
        for credential in self.credentials:
            if credential.rp_id == options["rpId"] and (
                not allowed or credential.credential_id in allowed
            ):
                return credential
        raise LookupError("no credential of this authenticator is allowed")


class VirtualAuthenticator:
    """Chromium's virtual authenticator (CDP WebAuthn domain) on one page: a CTAP2
    platform authenticator with resident keys and user verification that always passes."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        added = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        self.id: str = added["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(found["credentials"])
