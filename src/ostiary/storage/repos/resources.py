"""Protected resources (RFC 8707), read through a per-node cache on the token endpoint's
path and invalidated on every node when one is deleted (as clients are)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.cache.rows import RowCache
from ostiary.domain.resources import Resource
from ostiary.storage.channels import channel_for
from ostiary.storage.repos._base import Repository, RowType
from ostiary.storage.repos._driver import Row, json_value
from ostiary.storage.tables import resources

INVALIDATION_CHANNEL = "ostiary_resources"


def _resource(values: Row) -> Resource:
    uri, name, scopes, created_at = values
    return Resource(uri, name, frozenset(json_value(scopes)), created_at)


RESOURCE = RowType(resources, ("uri", "name", "scopes", "created_at"), _resource)


class ResourceRepository(Repository):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        # Off until enable_cache (build_services turns it on for the server and the CLI).
        self._cache: RowCache[Resource] = RowCache(ttl=0)
        self._channel = channel_for(engine, INVALIDATION_CHANNEL)

    def enable_cache(self, ttl: float) -> None:
        self._cache.ttl = ttl

    async def close(self) -> None:
        await self._channel.close()

    async def get(self, uri: str) -> Resource | None:
        """The resource, through this node's cache when enabled: a deletion on any node
        reaches it at once (``ostiary.storage.channels``); an unknown URI is never cached,
        so a new resource is seen at once too."""
        if self._cache.ttl > 0:
            self._channel.poll(self._cache)
        return await self._cache.get(uri, self._select)

    async def _select(self, uri: str) -> Resource | None:
        row = await self._first(RESOURCE.select().where(resources.c.uri == uri))
        return _resource(row) if row else None

    async def add(self, *, uri: str, name: str, scopes: Iterable[str]) -> Resource | None:
        resource = Resource(uri, name, frozenset(scopes), clock.now())
        values = {**RESOURCE.values(resource), "scopes": sorted(resource.scopes)}
        return resource if await self._insert(resources, values) else None

    async def delete(self, uri: str) -> bool:
        """Delete the resource, telling every node's cache in the same transaction."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(resources).where(resources.c.uri == uri))
            await self._channel.in_transaction(conn, uri)
        self._channel.committed(uri)
        self._cache.invalidate(uri)
        return int(result.rowcount) > 0

    async def list(self) -> list[Resource]:
        return RESOURCE.all(await self._rows(select(*RESOURCE.columns).order_by(resources.c.uri)))
