"""A cached JSON Web Key Set (RFC 7517 §5) that refetches on rotation but cannot be flooded."""

from __future__ import annotations

import asyncio
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

_KEY_TYPES: dict[str, Any] = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}
# Which algorithms a key without an "alg" member may be used with (RFC 7518 §3.1).
ALGS_FOR: dict[tuple[str, str | None], frozenset[str]] = {
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-384"): frozenset({"ES384"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("RSA", None): frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    ("OKP", "Ed25519"): frozenset({"EdDSA", "Ed25519"}),
}

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    algs: frozenset[str]
    key: Any


def _load(jwk: dict[str, Any]) -> VerificationKey | None:
    kid, kty = jwk.get("kid"), jwk.get("kty")
    # RFC 7517 §4.2: a key published for encryption is not one we verify with.
    if not isinstance(kid, str) or jwk.get("use", "sig") != "sig" or kty not in _KEY_TYPES:
        return None
    if any(member in jwk for member in ("d", "p", "q", "k")):
        return None  # a private or symmetric key has no place in a JWKS we trust
    alg = jwk.get("alg")
    curve = jwk.get("crv") if kty != "RSA" else None
    allowed = ALGS_FOR.get((kty, curve), frozenset())
    algs = frozenset({alg}) & allowed if isinstance(alg, str) else allowed
    if not algs:
        return None
    try:
        key = _KEY_TYPES[kty].import_key(jwk)
    except (JoseError, ValueError, TypeError):
        return None
    # Check each algorithm against the key once here (curve, size), not per token.
    algs = frozenset(alg for alg in algs if fits(alg, key))
    return VerificationKey(kid, algs, key) if algs else None


def fits(alg: str, key: Any) -> bool:
    model = JWSRegistry.algorithms.get(alg)
    if model is None:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # the "EdDSA" name, RFC 9864
            model.check_key(key)
    except (JoseError, ValueError, TypeError):
        return False
    return True


def http_fetch(http: httpx.AsyncClient) -> Callable[[str], Awaitable[Any]]:
    """Reads a key set with ``http``: None when it cannot (``KeySet`` keeps the keys it has,
    and the next interval tries again)."""

    async def fetch(uri: str) -> Any:
        try:
            response = await http.get(uri)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    return fetch


class KeySet(ABC, Generic[K]):
    """Keys by kid, from the key set ``fetch`` reads at ``jwks_uri``. Refreshes after
    ``ttl`` seconds; an unknown kid refetches at most once per ``min_refetch_interval`` so
    a flood of forged kids cannot hammer the issuer. Subclasses load each key."""

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
        self._keys: dict[str, K] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self, kid: str) -> K | None:
        now = self._clock()
        key = self._keys.get(kid)
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        if key is not None and not stale:
            return key
        if stale or now - (self._fetched_at or 0.0) >= self._min_interval:
            await self._refresh(stale)
        return self._keys.get(kid)

    async def _refresh(self, stale: bool) -> None:
        async with self._lock:
            # Another task may have fetched while this one waited for the lock.
            now = self._clock()
            if self._fetched_at is not None:
                age = now - self._fetched_at
                if age < self._min_interval or (stale and age < self._ttl):
                    return
            self._fetched_at = now
            self.fetches += 1
            document = await self._fetch(self.jwks_uri)
            members = document.get("keys") if isinstance(document, dict) else None
            if not isinstance(members, list):
                return
            loaded = [self._load(jwk) for jwk in members if isinstance(jwk, dict)]
            self._keys = dict(item for item in loaded if item is not None)

    @abstractmethod
    def _load(self, jwk: dict[str, Any]) -> tuple[str, K] | None:
        """A member's kid and key, or None to pass over it."""


class JWKSCache(KeySet[VerificationKey]):
    """A ``KeySet`` of keys checked against the algorithms they may verify."""

    def cached(self, kid: str) -> VerificationKey | None:
        """The key if known and the set is fresh: the hot path, without awaiting."""
        fetched = self._fetched_at
        if fetched is not None and self._clock() - fetched < self._ttl:
            return self._keys.get(kid)
        return None

    def _load(self, jwk: dict[str, Any]) -> tuple[str, VerificationKey] | None:
        key = _load(jwk)
        return (key.kid, key) if key is not None else None
