"""Signing keys: what the ring holds, and a rotation per algorithm (``keys.manager``).

A rotated-in key is published ``keys.publish_ahead`` seconds before it signs, so verifiers
caching the JWKS learn it first; the key it replaces stays published until every token
it signed has expired.
"""

from __future__ import annotations

from dataclasses import dataclass

from ostiary import clock
from ostiary.admin.auth import Caller
from ostiary.admin.problems import unprocessable
from ostiary.admin.resources import record
from ostiary.keys.algorithms import SUPPORTED
from ostiary.services import Services


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    alg: str
    state: str
    created_at: int
    activates_at: int
    retired_at: int | None
    expires_at: int | None
    age_days: int


def state(activates_at: int, retired_at: int | None, expires_at: int | None, now: int) -> str:
    if expires_at is not None and expires_at <= now:
        return "expired"
    if activates_at > now:
        return "published"
    if retired_at is not None and retired_at <= now:
        return "retired"
    return "signing"


async def listing(services: Services) -> list[KeyRow]:
    """Every stored key by algorithm, newest first."""
    now = clock.now()
    rows = [
        KeyRow(
            kid=k.kid,
            alg=k.alg,
            state=state(k.activates_at, k.retired_at, k.expires_at, now),
            created_at=k.created_at,
            activates_at=k.activates_at,
            retired_at=k.retired_at,
            expires_at=k.expires_at,
            age_days=max(0, now - k.created_at) // 86400,
        )
        for k in await services.store.keys.all()
    ]
    return sorted(rows, key=lambda r: (r.alg, -r.created_at, r.kid))


def algorithms(services: Services) -> list[str]:
    """The algorithms a key may be rotated for: those the server signs with."""
    return sorted(services.signing_algs())


async def rotate(services: Services, caller: Caller, alg: str) -> str:
    """A new key for ``alg``; the audit event is the command line's ``key.rotated``."""
    if alg not in SUPPORTED or alg not in services.signing_algs():
        raise unprocessable(f"algorithm {alg!r} is not one of {', '.join(algorithms(services))}")
    kid = await services.keys.rotate(alg)
    await record(services, caller, "key.rotated", details={"alg": alg, "kid": kid})
    return kid
