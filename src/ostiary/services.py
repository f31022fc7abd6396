"""The services one Ostiary node runs with, built once from the settings."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.accounts.passwords import Passwords
from ostiary.accounts.throttle import Throttle
from ostiary.crypto.sealing import Sealer
from ostiary.events import AuditLog
from ostiary.keys.algorithms import SUPPORTED
from ostiary.keys.manager import KeyManager
from ostiary.limits.limiter import RateLimiter
from ostiary.limits.stores import counter_store
from ostiary.settings import Settings
from ostiary.storage.engine import create_engine
from ostiary.storage.store import Store
from ostiary.tokens.service import TokenService


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    store: Store
    keys: KeyManager
    tokens: TokenService
    passwords: Passwords
    audit: AuditLog
    throttle: Throttle
    limits: RateLimiter

    background: set[asyncio.Task[None]] = field(default_factory=set)

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
        await self.engine.dispose()

    def signing_algs(self) -> set[str]:
        # One key per algorithm a client may choose for ID tokens (RS256 is the OIDC
        # default and mandatory to implement), so no registration ever finds none.
        return set(SUPPORTED)


def build_services(settings: Settings, engine: AsyncEngine | None = None) -> Services:
    engine = engine or create_engine(settings.database_url, pool_size=settings.database_pool_size)
    store = Store(engine)
    store.clients.enable_cache(settings.cache.client_ttl)
    keys = KeyManager(
        store.keys,
        Sealer(settings.require_secret_key(), "signing-keys"),
        publish_ahead=settings.keys.publish_ahead,
        cache_ttl=settings.keys.cache_ttl,
    )
    audit = AuditLog(store.audit)
    return Services(
        settings=settings,
        engine=engine,
        store=store,
        keys=keys,
        tokens=TokenService(settings, store, keys),
        passwords=Passwords(settings.passwords),
        audit=audit,
        throttle=Throttle(store.throttles, settings.lockout, audit),
        limits=RateLimiter(settings.rate_limits, counter_store(settings.rate_limits, store)),
    )
