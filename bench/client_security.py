"""Client credentials with strong client authentication and DPoP, against the plain
client_secret_basic request, in one run, in process.

    .venv/bin/python bench/client_security.py [--backend postgresql|sqlite] [-n 2000]

Calls ``token_endpoint.token`` (what POST /token calls) with raw request bodies, one after
another, for five ways of asking for the same token: client_secret_basic;
private_key_jwt (an ES256 client assertion, RFC 7523; and an RS256 one);
client_secret_basic with a DPoP proof (RFC 9449); private_key_jwt with a DPoP proof (the
FAPI 2.0 way). Assertions and
proofs are signed before the timed loop (that is the client's work); each is used once,
as the server insists. Prints CPU per request of this process (``time.process_time``) and
each way's rate as a ratio of the plain one's. Target (docs/client-security.md):
private_key_jwt + DPoP at 0.5x the plain rate or better.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from ostiary.cli.dev import seed
from ostiary.oauth import token_endpoint
from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import build_services
from ostiary.settings import load_settings
from ostiary.storage.migrate import upgrade

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ISSUER = "http://127.0.0.1:9"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CC = b"grant_type=client_credentials"


def client_assertion(client_id: str, key: ECKey | RSAKey, alg: str = "ES256") -> str:
    now = int(time.time())
    claims = {
        "iss": client_id, "sub": client_id, "aud": ISSUER, "jti": uuid.uuid4().hex,
        "iat": now, "exp": now + 300,
    }  # fmt: skip
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def dpop_proof(key: ECKey) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {
        "jti": uuid.uuid4().hex, "htm": "POST", "htu": f"{ISSUER}/token", "iat": int(time.time()),
    }  # fmt: skip
    return jwt.encode(header, claims, key)


async def measure(n: int, one: Callable[[int], Awaitable[None]]) -> float:
    """CPU seconds per request over ``n`` requests, after a few to warm the caches."""
    for i in range(n, n + 20):
        await one(i)
    cpu = time.process_time()
    for i in range(n):
        await one(i)
    return (time.process_time() - cpu) / n


async def run(url: str, n: int) -> list[dict[str, Any]]:
    settings = load_settings(
        database_url=url,
        issuer=ISSUER,
        secret_key=secrets.token_urlsafe(48),
        rate_limits={"enabled": False},
    )
    services = build_services(settings)
    try:
        await upgrade(services.engine)
        await services.keys.ensure(services.signing_algs())
        seeded = await seed(services, users=0, clients=1, tokens=0, prefix="cs")
        basic_id = seeded.client_ids[0]
        basic = "Basic " + base64.b64encode(f"{basic_id}:{seeded.client_secret}".encode()).decode()
        key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
        spec = ClientSpec(
            name="fapi-like",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scopes=["read"],
            auth_method="private_key_jwt",
            jwks={"keys": [key.as_dict(private=False)]},
        )
        jwt_client, _ = await register(services.store.clients, spec)
        rsa_key = RSAKey.generate_key(2048, parameters={"kid": "r1"})
        rsa_spec = ClientSpec(
            name="rs256",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scopes=["read"],
            auth_method="private_key_jwt",
            jwks={"keys": [rsa_key.as_dict(private=False)]},
        )
        rsa_client, _ = await register(services.store.clients, rsa_spec)
        rsa_body = [
            CC
            + f"&client_assertion_type={ASSERTION_TYPE}&client_assertion=".encode()
            + client_assertion(rsa_client.client_id, rsa_key, "RS256").encode()
            for _ in range(n + 20)
        ]
        dpop_key = ECKey.generate_key("P-256")
        total = n + 20
        assertions = [client_assertion(jwt_client.client_id, key) for _ in range(2 * total)]
        proofs = [dpop_proof(dpop_key) for _ in range(2 * total)]
        assertion_body = [
            CC + f"&client_assertion_type={ASSERTION_TYPE}&client_assertion={a}".encode()
            for a in assertions
        ]

        async def plain(i: int) -> None:
            await token_endpoint.token(services, CC, basic)

        async def private_key_jwt(i: int) -> None:
            await token_endpoint.token(services, assertion_body[i], None)

        async def private_key_jwt_rs256(i: int) -> None:
            await token_endpoint.token(services, rsa_body[i], None)

        async def basic_dpop(i: int) -> None:
            result = await token_endpoint.token(services, CC, basic, None, [proofs[i]])
            assert result["token_type"] == "DPoP"

        async def jwt_dpop(i: int) -> None:
            body, proof = assertion_body[total + i], proofs[total + i]
            result = await token_endpoint.token(services, body, None, None, [proof])
            assert result["token_type"] == "DPoP"

        ways = [
            ("client_secret_basic", plain),
            ("private_key_jwt", private_key_jwt),
            ("private_key_jwt (RS256)", private_key_jwt_rs256),
            ("client_secret_basic + DPoP", basic_dpop),
            ("private_key_jwt + DPoP", jwt_dpop),
        ]
        # basic+DPoP and jwt+DPoP use the second half of the proofs and assertions.
        costs = {}
        for name, one in ways:
            costs[name] = await measure(n, one)
            # The audit events queued meanwhile go out between ways, not in the timed loop
            # (and never overflow the queue).
            await services.audit.flush()
        base = costs["client_secret_basic"]
        return [
            {
                "way": name,
                "cpu_us_per_request": round(cost * 1e6),
                "requests_per_cpu_second": round(1 / cost),
                "rate_vs_plain": round(base / cost, 2),
            }
            for name, cost in costs.items()
        ]
    finally:
        await services.close()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("-n", type=int, default=2000, help="requests per way")
    args = parser.parse_args(argv)
    if args.backend == "postgresql":
        name = f"ostiary_cs_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            rows = asyncio.run(run(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", args.n))
        finally:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        with tempfile.TemporaryDirectory(prefix="ostiary-cs-") as tmp:
            rows = asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/cs.db", args.n))
    print(f"{'way':30} {'CPU µs':>8} {'req/CPU-s':>10} {'vs plain':>9}")
    for r in rows:
        print(
            f"{r['way']:30} {r['cpu_us_per_request']:8d} "
            f"{r['requests_per_cpu_second']:10d} {r['rate_vs_plain']:9.2f}"
        )
    print(json.dumps({"backend": args.backend, "results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
