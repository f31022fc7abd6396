"""Cost of ostiary.resource's full verification against the bare ECDSA verify it contains.

Not a test: prints rates and the overhead ratio (target below 25 %), asserts nothing.

    .venv/bin/python bench/resource_verify.py [N]
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey

from ostiary.resource import TokenVerifier

ISSUER = "https://id.example.com"
AUDIENCE = "https://api.example.com"


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def main(n: int) -> None:
    key = ECKey.generate_key("P-256")
    public = key.as_dict(private=False) | {"kid": "k1", "alg": "ES256", "use": "sig"}
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now,
        "jti": "j1",
        "client_id": "c1",
        "scope": "orders:read orders:write",
    }
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}, claims, key)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks.json":
            return httpx.Response(200, json={"keys": [public]})
        return httpx.Response(404)

    # Raw: the same signature over the same signing input, with cryptography directly.
    signing_input, _, signature = token.rpartition(".")
    raw_sig = b64decode(signature)
    der = encode_dss_signature(int.from_bytes(raw_sig[:32]), int.from_bytes(raw_sig[32:]))
    ec_public = key.get_op_key("verify")
    assert isinstance(ec_public, ec.EllipticCurvePublicKey)
    data = signing_input.encode()

    def raw() -> None:
        ec_public.verify(der, data, ec.ECDSA(hashes.SHA256()))

    async def kit_run() -> float:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            verifier = TokenVerifier(ISSUER, AUDIENCE, jwks_uri=f"{ISSUER}/jwks.json", http=http)
            await verifier.verify(token)  # warm the JWKS cache: steady state is what we time
            start = time.perf_counter()
            for _ in range(n):
                await verifier.verify(token)
            return time.perf_counter() - start

    raw()
    # Interleave two rounds of each so a burst of background load hits both alike.
    raw_time = kit_time = 0.0
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(n):
            raw()
        raw_time += time.perf_counter() - start
        kit_time += asyncio.run(kit_run())
    raw_rate, kit_rate = 2 * n / raw_time, 2 * n / kit_time
    print(f"verifications per round: {n} (x2 rounds)")
    print(f"raw cryptography ECDSA P-256 verify: {raw_rate:10.0f} /s")
    print(f"ostiary.resource TokenVerifier.verify: {kit_rate:8.0f} /s")
    print(f"overhead: {kit_time / raw_time - 1:.1%} (target < 25%)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
