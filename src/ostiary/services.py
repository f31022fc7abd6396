"""The services one Ostiary node runs with, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.accounts.passwords import Passwords
from ostiary.crypto.sealing import Sealer
from ostiary.keys.manager import KeyManager
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

    async def close(self) -> None:
        await self.engine.dispose()

    def signing_algs(self) -> set[str]:
        # RS256 is kept for OpenID Connect ID tokens (mandatory to implement).
        return {self.settings.tokens.access_token_alg, "RS256"}


def build_services(settings: Settings, engine: AsyncEngine | None = None) -> Services:
    engine = engine or create_engine(settings.database_url)
    store = Store(engine)
    keys = KeyManager(
        store.keys,
        Sealer(settings.require_secret_key(), "signing-keys"),
        publish_ahead=settings.keys.publish_ahead,
        cache_ttl=settings.keys.cache_ttl,
    )
    return Services(
        settings=settings,
        engine=engine,
        store=store,
        keys=keys,
        tokens=TokenService(settings, store, keys),
        passwords=Passwords(settings.passwords),
    )
