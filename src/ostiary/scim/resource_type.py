"""What every SCIM resource type offers the endpoints; the registry of those served."""

from __future__ import annotations

from typing import Any, Protocol

from scim2_models import Resource
from sqlalchemy import ColumnElement

from ostiary.scim.catalogue import Catalogue
from ostiary.services import Services


class ResourceType(Protocol):
    name: str  # "User"
    endpoint: str  # "/Users"
    model: type[Resource[Any]]
    catalogue: Catalogue

    async def get(self, services: Services, base: str, ident: str) -> Resource[Any] | None: ...

    async def page(
        self,
        services: Services,
        base: str,
        where: ColumnElement[bool] | None,
        order_by: list[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[Resource[Any]]]: ...

    async def create(
        self, services: Services, base: str, resource: Resource[Any], actor: str
    ) -> Resource[Any]: ...

    async def replace(
        self,
        services: Services,
        base: str,
        before: Resource[Any],
        after: Resource[Any],
        actor: str,
    ) -> Resource[Any]: ...

    async def delete(self, services: Services, ident: str, actor: str) -> bool: ...


REGISTRY: dict[str, ResourceType] = {}


def register(resource_type: ResourceType) -> ResourceType:
    REGISTRY[resource_type.endpoint.strip("/")] = resource_type
    return resource_type
