"""Upstream key sets (RFC 7517 §5), cached, refetched on an unknown kid at most so often.

Mirrors ``ostiary.resource.jwks`` (which holds one long-lived HTTP client): the same
ttl and rate limit, fetching through the caller's function so no connection outlives a call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

Key = RSAKey | ECKey | OKPKey
_PUBLIC_TYPES = ("RSA", "EC", "OKP")


def _load(jwk: dict[str, Any]) -> tuple[str, Key] | None:
    kid = jwk.get("kid")
    if not isinstance(kid, str) or jwk.get("use", "sig") != "sig":
        return None
    # Only public asymmetric keys: a symmetric or private key in a JWKS is a mistake.
    if jwk.get("kty") not in _PUBLIC_TYPES or any(m in jwk for m in ("d", "p", "q", "k")):
        return None
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError):
        return None
    return kid, key  # type: ignore[return-value]


class UpstreamKeys:
    def __init__(
        self,
        jwks_uri: str,
        fetch: Callable[[str], Awaitable[Any]],
        *,
        ttl: float = 300,
        min_refetch_interval: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_uri = jwks_uri
        self._fetch = fetch
        self._ttl = ttl
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._keys: dict[str, Key] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self, kid: str) -> Key | None:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        if kid in self._keys and not stale:
            return self._keys[kid]
        if stale or now - (self._fetched_at or 0.0) >= self._min_interval:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self._min_interval:
                return  # another task refreshed while this one waited
            self._fetched_at = now
            self.fetches += 1
            document = await self._fetch(self.jwks_uri)
            members = document.get("keys") if isinstance(document, dict) else None
            if not isinstance(members, list):
                return
            loaded = [_load(jwk) for jwk in members if isinstance(jwk, dict)]
            self._keys = dict(item for item in loaded if item is not None)
