"""Protected resources (RFC 8707) in memory (no cache: every read sees the last write)."""

from __future__ import annotations

from collections.abc import Iterable

from ostiary import clock
from ostiary.domain.resources import Resource
from ostiary.storage.memory.tables import Tables


class MemoryResources:
    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self.cache_ttl = 0.0

    def enable_cache(self, ttl: float) -> None:
        self.cache_ttl = ttl

    async def close(self) -> None:
        return None

    async def get(self, uri: str) -> Resource | None:
        return self._t.resources.get(uri)

    async def add(self, *, uri: str, name: str, scopes: Iterable[str]) -> Resource | None:
        if uri in self._t.resources:
            return None
        resource = self._t.resources[uri] = Resource(uri, name, frozenset(scopes), clock.now())
        return resource

    async def delete(self, uri: str) -> bool:
        return self._t.resources.pop(uri, None) is not None

    async def list(self) -> list[Resource]:
        return [self._t.resources[uri] for uri in sorted(self._t.resources)]
