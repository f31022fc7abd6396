"""The Group resource type (RFC 7643 §4.2): Ostiary groups, so SCIM membership feeds RBAC.

A member is a user (``group_members``) or a group (``group_parents``: members of the
child are members of this group, as everywhere in Ostiary).
"""

from __future__ import annotations

from typing import Any

from scim2_models import Group, Resource
from sqlalchemy import ColumnElement, func

from ostiary.scim.catalogue import Attr, Catalogue, MultiValued, Source
from ostiary.scim.errors import invalid_value, uniqueness
from ostiary.scim.resource_type import register
from ostiary.scim.timestamps import iso
from ostiary.services import Services
from ostiary.storage.repos.scim_groups import (
    DuplicateScimGroup,
    ScimGroupRepository,
    ScimGroupRow,
)
from ostiary.storage.repos.scim_users import ScimUserRepository
from ostiary.storage.tables import group_members, group_parents, groups

CORE = "urn:ietf:params:scim:schemas:core:2.0:group"

CATALOGUE = Catalogue(
    key=groups.c.id,
    schemas=frozenset({CORE}),
    singles={
        "id": Attr(groups.c.id, case_exact=True),
        # Groups are few next to users: a lowercased comparison without an index.
        "displayname": Attr(func.lower(groups.c.name)),
        "externalid": Attr(groups.c.external_id, case_exact=True),
        "meta.created": Attr(groups.c.created_at, "datetime"),
        "meta.lastmodified": Attr(groups.c.updated_at, "datetime"),
    },
    multi={
        "members": MultiValued(
            (
                Source(
                    group_members,
                    group_members.c.group_id,
                    {"value": Attr(group_members.c.user_id, case_exact=True)},
                ),
                Source(
                    group_parents,
                    group_parents.c.parent_id,
                    {"value": Attr(group_parents.c.child_id, case_exact=True)},
                ),
            )
        )
    },
)


class GroupType:
    name = "Group"
    endpoint = "/Groups"
    model = Group
    catalogue = CATALOGUE

    def repo(self, services: Services) -> ScimGroupRepository:
        return ScimGroupRepository(services.engine)

    def to_model(self, row: ScimGroupRow, base: str) -> Group:
        data: dict[str, Any] = {
            "id": row.id,
            "displayName": row.name,
            "meta": {
                "resourceType": "Group",
                "created": iso(row.created_at),
                "lastModified": iso(row.updated_at),
                "location": f"{base}/Groups/{row.id}",
            },
        }
        if row.external_id is not None:
            data["externalId"] = row.external_id
        if row.members:
            data["members"] = [
                {
                    "value": ident,
                    "display": display,
                    "type": kind,
                    "$ref": f"{base}/{kind}s/{ident}",
                }
                for ident, display, kind in row.members
            ]
        return Group.model_validate(data, scim_ctx=None)

    async def get(self, services: Services, base: str, ident: str) -> Group | None:
        row = await self.repo(services).get(ident)
        return self.to_model(row, base) if row else None

    async def page(
        self,
        services: Services,
        base: str,
        where: ColumnElement[bool] | None,
        order_by: list[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[Resource[Any]]]:
        repo = self.repo(services)
        total, ids = await repo.search(where, order_by, offset, limit)
        return total, [self.to_model(r, base) for r in await repo.fetch(ids)]

    async def _members(
        self, services: Services, group: Group, own_id: str | None
    ) -> tuple[set[str], set[str]]:
        wanted = {str(m.value) for m in group.members or [] if m.value}
        if own_id in wanted:
            raise invalid_value("a group cannot be a member of itself")
        user_ids = await ScimUserRepository(services.engine).existing(sorted(wanted))
        group_ids = await self.repo(services).existing(sorted(wanted - user_ids))
        unknown = wanted - user_ids - group_ids
        if unknown:
            raise invalid_value(f"no user or group {sorted(unknown)[0]!r}")
        return user_ids, group_ids

    async def create(
        self, services: Services, base: str, resource: Resource[Any], actor: str
    ) -> Group:
        group = _checked(resource)
        user_ids, group_ids = await self._members(services, group, None)
        try:
            group_id = await self.repo(services).add(
                str(group.display_name), group.external_id, user_ids, group_ids
            )
        except DuplicateScimGroup:
            raise uniqueness(f"displayName {group.display_name!r} is taken") from None
        await services.audit.record("group.created", actor=actor, details={"group": group_id})
        created = await self.get(services, base, group_id)
        assert created is not None
        return created

    async def replace(
        self,
        services: Services,
        base: str,
        before: Resource[Any],
        after: Resource[Any],
        actor: str,
    ) -> Group:
        group = _checked(after)
        group_id = str(before.id)
        user_ids, group_ids = await self._members(services, group, group_id)
        if group_ids and await self._would_cycle(services, group_id, group_ids):
            raise invalid_value("nesting these groups would make a cycle")
        try:
            await self.repo(services).replace(
                group_id, str(group.display_name), group.external_id, user_ids, group_ids
            )
        except DuplicateScimGroup:
            raise uniqueness(f"displayName {group.display_name!r} is taken") from None
        await services.audit.record("group.updated", actor=actor, details={"group": group_id})
        replaced = await self.get(services, base, group_id)
        assert replaced is not None
        return replaced

    async def _would_cycle(self, services: Services, group_id: str, children: set[str]) -> bool:
        """A child that already contains this group (at any depth) would close a loop."""
        repo = self.repo(services)
        seen: set[str] = set()
        frontier = set(children)
        while frontier:
            if group_id in frontier:
                return True
            seen |= frontier
            rows = await repo.fetch(sorted(frontier))
            frontier = {m[0] for r in rows for m in r.members if m[2] == "Group"} - seen
        return False

    async def delete(self, services: Services, ident: str, actor: str) -> bool:
        deleted = await self.repo(services).delete(ident)
        if deleted:
            await services.audit.record("group.deleted", actor=actor, details={"group": ident})
        return deleted


def _checked(resource: Resource[Any]) -> Group:
    assert isinstance(resource, Group)
    if not resource.display_name or not resource.display_name.strip():
        raise invalid_value("displayName is required")
    if len(resource.display_name) > 150:
        raise invalid_value("displayName is at most 150 characters")
    if resource.external_id is not None and len(resource.external_id) > 200:
        raise invalid_value("externalId is at most 200 characters")
    return resource


GROUPS = register(GroupType())
