"""Upstream identity providers; client secrets sealed (they must be usable, so not hashed).

``buttons`` runs on the driver connection: every login page lists the providers (speed);
everything else is SQLAlchemy Core.
"""

from __future__ import annotations

import builtins
import dataclasses
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.crypto.sealing import Sealer
from ostiary.domain.federation import DuplicateProviderError, Provider
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.repos._driver import Row, json_value
from ostiary.storage.tables import federation_providers as table
from ostiary.storage.tables import group_members, user_roles

# Booleans compare as in both dialects' storage: true on PostgreSQL, 1 on SQLite.
_BUTTONS = (
    "SELECT name, display_name FROM federation_providers WHERE enabled = $1"
    " ORDER BY display_name, name"
)
_NAMES = (
    "name",
    "display_name",
    "preset",
    "issuer",
    "client_id",
    "client_secret_sealed",
    "scopes",
    "enabled",
    "provisioning",
    "trust_email",
    "trust_mfa",
    "store_tokens",
    "mapping",
    "options",
    "created_at",
    "updated_at",
)


class ProviderRepository(Repository):
    def __init__(self, engine: AsyncEngine, sealer: Sealer) -> None:
        super().__init__(engine)
        self._sealer = sealer
        # The mapper unseals the client secret, so it is this repository's own.
        self._shape = RowType(table, _NAMES, self._provider)

    def _provider(self, values: Row) -> Provider:
        (name, display_name, preset, issuer, client_id, sealed, scopes, enabled) = values[:8]
        (provisioning, trust_email, trust_mfa, store_tokens, mapping, options) = values[8:14]
        created_at, updated_at = values[14:16]
        return Provider(
            name=name,
            display_name=display_name,
            preset=preset,
            issuer=issuer,
            client_id=client_id,
            client_secret=self._sealer.unseal(sealed).decode() if sealed else None,
            scopes=tuple(json_value(scopes)),
            enabled=bool(enabled),
            provisioning=provisioning,
            trust_email=bool(trust_email),
            trust_mfa=bool(trust_mfa),
            store_tokens=bool(store_tokens),
            mapping=tuple(json_value(mapping)),
            options=dict(json_value(options)),
            created_at=created_at,
            updated_at=updated_at,
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
            "trust_mfa": provider.trust_mfa,
            "store_tokens": provider.store_tokens,
            "mapping": list(provider.mapping),
            "options": dict(provider.options),
        }

    async def add(self, provider: Provider) -> Provider:
        now = clock.now()
        await self._insert(
            table,
            {"name": provider.name, "created_at": now, "updated_at": now, **self._values(provider)},
            lambda: DuplicateProviderError(f"provider {provider.name!r} already exists"),
        )
        return dataclasses.replace(provider, created_at=now, updated_at=now)

    async def replace(self, provider: Provider) -> Provider:
        now = clock.now()
        await self._write(
            update(table)
            .where(table.c.name == provider.name)
            .values(updated_at=now, **self._values(provider))
        )
        return dataclasses.replace(provider, updated_at=now)

    async def get(self, name: str) -> Provider | None:
        row = await self._first(self._shape.select().where(table.c.name == name))
        return self._provider(row) if row else None

    async def list(self, *, enabled_only: bool = False) -> list[Provider]:
        query = self._shape.select().order_by(table.c.name)
        if enabled_only:
            query = query.where(table.c.enabled.is_(True))
        return self._shape.all(await self._rows(query))

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
