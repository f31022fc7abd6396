"""Cost of ostiary.resource's full verification against the bare ECDSA verify it contains,
and of verifying a token the kit has seen before (its verified-token cache).

Not a test: prints rates and the overhead ratio (target below 25 %), asserts nothing.

    .venv/bin/python bench/resource_verify.py [N]   # N distinct tokens, default 2000

Keep N within the verifier's cache (``verified_cache_size``, 4,096): past it, a pass over
more distinct tokens than the cache holds evicts each before it comes round again.
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
    base = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now,
        "client_id": "c1",
        "scope": "orders:read orders:write",
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": "k1"}
    # n distinct tokens (their jti differ): the kit sees each first once (a full check),
    # then again (the verified-token cache answers the signature part).
    tokens = [jwt.encode(header, base | {"jti": f"j{i}"}, key) for i in range(n)]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks.json":
            return httpx.Response(200, json={"keys": [public]})
        return httpx.Response(404)

    # Raw: the same signatures over the same signing inputs, with cryptography directly.
    ec_public = key.get_op_key("verify")
    assert isinstance(ec_public, ec.EllipticCurvePublicKey)
    signed: list[tuple[bytes, bytes]] = []
    for token in tokens:
        signing_input, _, signature = token.rpartition(".")
        raw_sig = b64decode(signature)
        der = encode_dss_signature(int.from_bytes(raw_sig[:32]), int.from_bytes(raw_sig[32:]))
        signed.append((der, signing_input.encode()))

    def raw() -> None:
        for der, data in signed:
            ec_public.verify(der, data, ec.ECDSA(hashes.SHA256()))

    async def kit_run() -> tuple[float, float]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            verifier = TokenVerifier(ISSUER, AUDIENCE, jwks_uri=f"{ISSUER}/jwks.json", http=http)
            await _warm(verifier, key)  # the JWKS cached: steady state is what we time
            start = time.perf_counter()
            for token in tokens:
                await verifier.verify(token)
            first = time.perf_counter() - start
            start = time.perf_counter()
            for token in tokens:
                await verifier.verify(token)
            return first, time.perf_counter() - start

    # Interleave two rounds of each so a burst of background load hits both alike.
    raw_time = first_time = seen_time = 0.0
    for _ in range(2):
        start = time.perf_counter()
        raw()
        raw_time += time.perf_counter() - start
        first, seen = asyncio.run(kit_run())
        first_time, seen_time = first_time + first, seen_time + seen
    rate = 2 * n
    print(f"distinct tokens per round: {n} (x2 rounds)")
    print(f"raw cryptography ECDSA P-256 verify:        {rate / raw_time:10.0f} /s")
    print(f"TokenVerifier.verify, first sight of a token: {rate / first_time:8.0f} /s")
    print(f"TokenVerifier.verify, a token seen before:    {rate / seen_time:8.0f} /s")
    print(f"overhead at first sight: {first_time / raw_time - 1:.1%} (target < 25%)")
    print(f"a token seen before: {first_time / seen_time:.1f}x the first sight's rate")


async def _warm(verifier: TokenVerifier, key: ECKey) -> None:
    """Fetch the JWKS with a token of its own, so the timed tokens are all first seen."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "w", "aud": AUDIENCE, "exp": now + 60, "iat": now}
    await verifier.verify(jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}, claims, key))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
