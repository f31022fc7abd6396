"""What every SCIM resource type offers the endpoints; the registry of those served."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scim2_models import Resource

from ostiary.services import Services
from ostiary.storage.scim_catalogue import Catalogue, Condition, Ordering


@dataclass(frozen=True, slots=True)
class Loaded:
    """A resource as stored: its full representation (``meta.version`` set) and the
    counter a conditional write must still find."""

    body: dict[str, Any]
    counter: int

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def version(self) -> str:
        return str(self.body["meta"]["version"])


@dataclass(frozen=True, slots=True)
class Search:
    """One page of a search: the filter (None: every resource), the order, the rows wanted,
    and the lazy attributes the caller excluded."""

    where: Condition | None
    order_by: list[Ordering]
    offset: int
    limit: int
    skip: frozenset[str] = frozenset()


class ResourceType(Protocol):
    name: str  # "User"
    endpoint: str  # "/Users"
    catalogue: Catalogue
    # Attributes expensive enough to leave out when the caller excluded them (a group's
    # members); the version never depends on them.
    lazy: frozenset[str]

    @property
    def model(self) -> type[Resource[Any]]:
        """The scim2-models class of its resources (read-only: each type names its own)."""
        ...

    async def get(
        self, services: Services, base: str, ident: str, skip: frozenset[str] = frozenset()
    ) -> Loaded | None: ...

    async def page(
        self, services: Services, base: str, search: Search
    ) -> tuple[int, list[dict[str, Any]]]: ...

    async def create(
        self, services: Services, base: str, resource: Resource[Any], actor: str
    ) -> Loaded: ...

    async def replace(
        self, services: Services, base: str, before: Loaded, after: Resource[Any], actor: str
    ) -> Loaded:
        """Raises ``VersionConflict`` when ``before.counter`` is no longer current."""
        ...

    async def patch(
        self, services: Services, base: str, before: Loaded, body: Any, actor: str
    ) -> bool:
        """Apply a PATCH directly in storage if the type knows a cheaper way than load,
        patch and replace; False leaves it to the generic path."""
        ...

    async def delete(self, services: Services, before: Loaded, actor: str) -> None: ...


class StoredType:
    """``get`` and ``page`` of a type whose repository reads rows by id (``get``) and by
    search (``search``, then ``fetch``); each lazy attribute is read unless excluded."""

    name: str
    endpoint: str
    lazy: frozenset[str]
    # The row's representation: a staticmethod of the type's module function.
    loaded: Callable[[Any, str], Loaded]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each endpoint is its type's name in the plural (RFC 7644 §3.2: /Users, /Groups).
        cls.endpoint = f"/{cls.name}s"

    def repo(self, services: Services) -> Any: ...

    def _reads(self, skip: frozenset[str]) -> dict[str, bool]:
        return {name: name not in skip for name in self.lazy}

    async def get(
        self, services: Services, base: str, ident: str, skip: frozenset[str] = frozenset()
    ) -> Loaded | None:
        row = await self.repo(services).get(ident, **self._reads(skip))
        return self.loaded(row, base) if row else None

    async def page(
        self, services: Services, base: str, search: Search
    ) -> tuple[int, list[dict[str, Any]]]:
        repo = self.repo(services)
        total, ids = await repo.search(search.where, search.order_by, search.offset, search.limit)
        rows = await repo.fetch(ids, **self._reads(search.skip))
        return total, [self.loaded(r, base).body for r in rows]


REGISTRY: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> ResourceType:
    REGISTRY[resource_type.endpoint.strip("/")] = resource_type
    return resource_type
