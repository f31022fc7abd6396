"""The services one Ostiary node runs with, built once from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.accounts.passwords import Passwords
from ostiary.accounts.throttle import Throttle
from ostiary.crypto.sealing import Sealer
from ostiary.events import AuditLog
from ostiary.federation.deps import FederationStore
from ostiary.keys.algorithms import SUPPORTED
from ostiary.keys.manager import KeyManager
from ostiary.limits.limiter import RateLimiter
from ostiary.limits.stores import counter_store
from ostiary.oauth import dpop
from ostiary.oauth.client_keys import ClientKeys
from ostiary.resource.client_cert import CertificateHeader
from ostiary.resource.dpop import DPoPVerifier
from ostiary.settings import Settings
from ostiary.storage.engine import create_engine
from ostiary.storage.store import Store as SqlStore
from ostiary.tokens.service import TokenService


class NodeStore(FederationStore, Protocol):
    """What the node's code reaches through ``Services.store``: every repository
    (``domain.repositories.Store``) and the SQL store's query objects (``accounts``,
    ``federation``). ``storage.memory.MemoryStore`` has the repositories only: services over
    it serve the grants and the authorization endpoint, not the account pages or
    federation."""


class NoDatabaseError(RuntimeError):
    """Asked for the engine of services built over a store without one (``storage.memory``)."""


@dataclass
class Services:
    settings: Settings
    # None: the store keeps its rows itself (``storage.memory``, for unit tests).
    database: AsyncEngine | None
    store: NodeStore
    keys: KeyManager
    tokens: TokenService
    passwords: Passwords
    audit: AuditLog
    throttle: Throttle
    limits: RateLimiter
    client_keys: ClientKeys
    # DPoP proofs at the token and PAR endpoints (RFC 9449), and at UserInfo.
    dpop: DPoPVerifier
    # Where the TLS proxy passes the client's certificate (RFC 8705); None: no mutual TLS.
    client_certificates: CertificateHeader | None = None

    background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def engine(self) -> AsyncEngine:
        """The database's engine, for what still reaches it past the repositories."""
        if self.database is None:
            raise NoDatabaseError("these services run on a store without a database")
        return self.database

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work after the response (back-channel logout); awaited at shutdown."""
        task = asyncio.get_running_loop().create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def drain(self, within: float = 30) -> None:
        if self.background:
            await asyncio.wait(set(self.background), timeout=within)

    async def close(self) -> None:
        await self.drain()
        await self.audit.flush()
        await self.limits.close()
        await self.store.clients.close()
        await self.store.resources.close()
        await self.client_keys.aclose()
        if self.database is not None:
            await self.database.dispose()

    def signing_algs(self) -> set[str]:
        # One key per algorithm a client may choose for ID tokens (RS256 is the OIDC
        # default and mandatory to implement), so no registration ever finds none.
        return set(SUPPORTED)


def certificate_header(settings: Settings) -> CertificateHeader | None:
    name = settings.client_security.client_certificate_header
    return CertificateHeader(name, settings.trusted_proxies) if name else None


def build_services(
    settings: Settings, engine: AsyncEngine | None = None, *, store: NodeStore | None = None
) -> Services:
    """The services over ``store`` (no engine: e.g. ``storage.memory.MemoryStore``), or
    over the SQL store of ``engine`` (by default one for ``settings.database_url``)."""
    if store is not None and engine is not None:
        raise ValueError("give an engine or a store, not both")
    if store is None:
        engine = engine or create_engine(
            settings.database_url, pool_size=settings.database_pool_size
        )
        store = SqlStore(engine)
    store.clients.enable_cache(settings.cache.client_ttl)
    store.resources.enable_cache(settings.cache.resource_ttl)
    keys = KeyManager(
        store.keys,
        Sealer(settings.require_secret_key(), "signing-keys"),
        publish_ahead=settings.keys.publish_ahead,
        cache_ttl=settings.keys.cache_ttl,
    )
    audit = AuditLog(store.audit)
    return Services(
        settings=settings,
        database=engine,
        store=store,
        keys=keys,
        tokens=TokenService(settings, store, keys),
        passwords=Passwords(settings.passwords),
        audit=audit,
        throttle=Throttle(store.throttles, settings.lockout, audit),
        limits=RateLimiter(settings.rate_limits, counter_store(settings.rate_limits, store)),
        dpop=dpop.verifier(settings, store.used_jtis),
        client_certificates=certificate_header(settings),
        client_keys=ClientKeys(
            Sealer(settings.require_secret_key(), "client-secrets"),
            ttl=settings.client_security.jwks_uri_ttl,
            timeout=settings.client_security.jwks_uri_timeout,
        ),
    )
