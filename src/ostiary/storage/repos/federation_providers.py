"""Upstream identity providers; client secrets sealed (they must be usable, so not hashed)."""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.crypto.sealing import Sealer
from ostiary.domain.federation import DuplicateProviderError, Provider
from ostiary.storage.repos._driver import Driver
from ostiary.storage.tables import federation_providers as table
from ostiary.storage.tables import group_members, user_roles

# Every login page shows these, hence the driver connection. Booleans compare as
# in both dialects' storage: true on PostgreSQL, 1 on SQLite.
_BUTTONS = (
    "SELECT name, display_name FROM federation_providers WHERE enabled = $1"
    " ORDER BY display_name, name"
)


class ProviderRepository:
    def __init__(self, engine: AsyncEngine, sealer: Sealer) -> None:
        self._engine = engine
        self._sealer = sealer
        self._driver = Driver(engine)

    def _from_row(self, row: Any) -> Provider:
        m = row._mapping
        sealed = m["client_secret_sealed"]
        return Provider(
            name=m["name"],
            display_name=m["display_name"],
            preset=m["preset"],
            issuer=m["issuer"],
            client_id=m["client_id"],
            client_secret=self._sealer.unseal(sealed).decode() if sealed else None,
            scopes=tuple(m["scopes"]),
            enabled=m["enabled"],
            provisioning=m["provisioning"],
            trust_email=m["trust_email"],
            store_tokens=m["store_tokens"],
            mapping=tuple(m["mapping"]),
            options=dict(m["options"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    def _values(self, provider: Provider) -> dict[str, Any]:
        secret = provider.client_secret
        return {
            "display_name": provider.display_name,
            "preset": provider.preset,
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "client_secret_sealed": self._sealer.seal(secret.encode()) if secret else None,
            "scopes": list(provider.scopes),
            "enabled": provider.enabled,
            "provisioning": provider.provisioning,
            "trust_email": provider.trust_email,
            "store_tokens": provider.store_tokens,
            "mapping": list(provider.mapping),
            "options": dict(provider.options),
        }

    async def add(self, provider: Provider) -> Provider:
        now = clock.now()
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(table).values(
                        name=provider.name, created_at=now, updated_at=now, **self._values(provider)
                    )
                )
        except IntegrityError:
            raise DuplicateProviderError(f"provider {provider.name!r} already exists") from None
        return dataclasses.replace(provider, created_at=now, updated_at=now)

    async def replace(self, provider: Provider) -> Provider:
        now = clock.now()
        async with self._engine.begin() as conn:
            await conn.execute(
                update(table)
                .where(table.c.name == provider.name)
                .values(updated_at=now, **self._values(provider))
            )
        return dataclasses.replace(provider, updated_at=now)

    async def get(self, name: str) -> Provider | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.name == name))).first()
        return self._from_row(row) if row else None

    async def list(self, *, enabled_only: bool = False) -> list[Provider]:
        query = select(table).order_by(table.c.name)
        if enabled_only:
            query = query.where(table.c.enabled.is_(True))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [self._from_row(r) for r in rows]

    async def buttons(self) -> builtins.list[tuple[str, str]]:  # list: the method above
        """(name, display name) of the enabled providers, without unsealing any secret."""
        return [(name, label) for name, label in await self._driver.fetch(_BUTTONS, True)]

    async def delete(self, name: str) -> bool:
        """Delete the provider, its linked identities (cascade), and every role and group
        membership its claim mapping gave: nothing would ever re-evaluate them again."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.name == name))
            if result.rowcount:
                for given in (user_roles, group_members):
                    await conn.execute(delete(given).where(given.c.federation_provider == name))
        return result.rowcount > 0
