"""The key ring: which key signs now, which public keys are published.

Rotation (``ostiary keys rotate``) adds a key that is published ``publish_ahead``
seconds before it signs, so verifiers that cache the JWKS learn it first; the key it
replaces stops signing at that moment and stays published until every token it signed
has expired (``MAX_TOKEN_LIFETIME`` after retirement).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, replace
from typing import Any

import orjson
from joserfc.jwk import import_key

from ostiary import clock
from ostiary.crypto.sealing import Sealer
from ostiary.domain.keys import StoredKey
from ostiary.domain.repositories import Keys
from ostiary.keys.algorithms import SigningKey, generate
from ostiary.keys.compact import CompactSigner, Verifier, signer_for, verifier_for

# Upper bound on any token lifetime signed by a key (access tokens are capped at one day).
MAX_TOKEN_LIFETIME = 86400
UNKNOWN_KID_RELOAD_INTERVAL = 1


@dataclass(frozen=True, slots=True)
class LoadedKey:
    kid: str
    alg: str
    key: SigningKey
    public_jwk: dict[str, Any]
    activates_at: int
    retired_at: int | None
    expires_at: int | None
    # The hot-path signer (keys.compact); None falls back to joserfc.
    compact: CompactSigner | None = None
    check: Verifier | None = None


class NoSigningKeyError(RuntimeError):
    pass


class KeyManager:
    def __init__(self, repo: Keys, sealer: Sealer, *, publish_ahead: int, cache_ttl: int) -> None:
        self._repo = repo
        self._sealer = sealer
        self._publish_ahead = publish_ahead
        self._cache_ttl = cache_ttl
        self._keys: list[LoadedKey] = []
        self._by_kid: dict[str, LoadedKey] = {}
        self._loaded_at = -(10**9)
        self._jwks_json = b'{"keys":[]}'
        self._lock = asyncio.Lock()

    # -- loading -----------------------------------------------------------------

    async def load(self) -> None:
        stored = await self._repo.unexpired()
        loaded = [self._reuse(s) or self._unseal(s) for s in stored]
        self._keys = loaded
        self._by_kid = {k.kid: k for k in loaded}
        self._jwks_json = orjson.dumps({"keys": [k.public_jwk for k in loaded]})
        self._loaded_at = clock.now()

    async def fresh(self) -> KeyManager:
        """Reload from the database when the in-memory copy is older than the cache TTL."""
        if clock.now() - self._loaded_at >= self._cache_ttl:
            async with self._lock:
                if clock.now() - self._loaded_at >= self._cache_ttl:
                    await self.load()
        return self

    def _reuse(self, stored: StoredKey) -> LoadedKey | None:
        """The key already in memory, with the stored schedule: a reload every cache TTL
        must not import every private key again (an RSA import takes milliseconds)."""
        known = self._by_kid.get(stored.kid)
        if known is None or known.alg != stored.alg:
            return None
        return replace(
            known,
            public_jwk=stored.public_jwk,
            activates_at=stored.activates_at,
            retired_at=stored.retired_at,
            expires_at=stored.expires_at,
        )

    def _unseal(self, stored: StoredKey) -> LoadedKey:
        private = orjson.loads(self._sealer.unseal(stored.private_sealed))
        key = import_key(private)
        sign = signer_for(stored.alg, key.private_key)
        return LoadedKey(
            kid=stored.kid,
            alg=stored.alg,
            key=key,  # type: ignore[arg-type]
            public_jwk=stored.public_jwk,
            activates_at=stored.activates_at,
            retired_at=stored.retired_at,
            expires_at=stored.expires_at,
            compact=CompactSigner(stored.alg, stored.kid, sign) if sign else None,
            check=verifier_for(stored.alg, key.public_key),
        )

    # -- use -----------------------------------------------------------------------

    def _signing_now(self, alg: str) -> list[LoadedKey]:
        now = clock.now()
        return [
            k
            for k in self._keys
            if k.alg == alg
            and k.activates_at <= now
            and (k.retired_at is None or k.retired_at > now)
        ]

    def signing_key(self, alg: str) -> LoadedKey:
        active = self._signing_now(alg)
        if not active:
            raise NoSigningKeyError(f"no active {alg} signing key")
        return max(active, key=lambda k: k.activates_at)

    def by_kid(self, kid: str) -> LoadedKey | None:
        return self._by_kid.get(kid)

    async def find(self, kid: str) -> LoadedKey | None:
        """A key by id; an unknown id triggers a reload (at most once a second), since
        another node may have rotated a key in since this one last loaded."""
        key = self._by_kid.get(kid)
        if key is None and clock.now() - self._loaded_at >= UNKNOWN_KID_RELOAD_INTERVAL:
            async with self._lock:
                if clock.now() - self._loaded_at >= UNKNOWN_KID_RELOAD_INTERVAL:
                    await self.load()
            key = self._by_kid.get(kid)
        return key

    @property
    def jwks_json(self) -> bytes:
        return self._jwks_json

    def jwks(self) -> dict[str, Any]:
        jwks: dict[str, Any] = orjson.loads(self._jwks_json)
        return jwks

    # -- administration ------------------------------------------------------------

    async def ensure(self, algs: set[str]) -> list[str]:
        """Create a key for each algorithm that has none yet (first start)."""
        await self.load()
        created = []
        for alg in sorted(algs):
            if not self._signing_now(alg):
                created.append(await self._create(alg, activates_at=clock.now()))
        if created:
            await self.load()
        return created

    async def rotate(self, alg: str) -> str:
        await self.load()
        # With no key signing now there is nothing to publish ahead of: sign at once.
        ahead = self._publish_ahead if self._signing_now(alg) else 0
        activates_at = clock.now() + ahead
        kid = await self._create(alg, activates_at=activates_at)
        for old in self._keys:
            if old.alg == alg and old.retired_at is None:
                await self._repo.retire(
                    old.kid, retired_at=activates_at, expires_at=activates_at + MAX_TOKEN_LIFETIME
                )
        await self.load()
        return kid

    async def _create(self, alg: str, *, activates_at: int) -> str:
        key = generate(alg)
        kid = secrets.token_urlsafe(12)
        public = key.as_dict(private=False)
        public.update({"kid": kid, "alg": alg, "use": "sig"})
        private = key.as_dict(private=True)
        await self._repo.add(
            StoredKey(
                kid=kid,
                alg=alg,
                private_sealed=self._sealer.seal(orjson.dumps(private)),
                public_jwk=public,
                created_at=clock.now(),
                activates_at=activates_at,
                retired_at=None,
                expires_at=None,
            )
        )
        return kid
