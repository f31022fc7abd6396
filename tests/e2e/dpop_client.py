"""A DPoP client written for the tests with joserfc (RFC 9449 §4.2): its own key, and a
fresh proof for each request."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey


class DPoPClient:
    """A client holding a DPoP key: proofs for each request (RFC 9449 §4.2)."""

    def __init__(self, alg: str = "ES256") -> None:
        self.key = ECKey.generate_key("P-256")
        self.jkt = self.key.thumbprint()

    def proof(self, method: str, url: str, token: str | None = None, **claims: Any) -> str:
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        body: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if token is not None:
            digest = hashlib.sha256(token.encode()).digest()
            body["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        body.update(claims)
        return jwt.encode(header, {k: v for k, v in body.items() if v is not None}, self.key)

    def headers(self, method: str, url: str, token: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"DPoP {token}", "DPoP": self.proof(method, url, token, **claims)}
