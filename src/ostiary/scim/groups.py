"""The Group resource type (RFC 7643 §4.2): Ostiary groups, so SCIM membership feeds RBAC.

A member is a user (``group_members``) or a group (``group_parents``: members of the
child are members of this group, as everywhere in Ostiary).
"""

from __future__ import annotations

from typing import Any

from scim2_models import Group, Resource

from ostiary.domain import identifiers
from ostiary.scim.errors import invalid_value, not_found, uniqueness
from ostiary.scim.etags import etag
from ostiary.scim.group_patch import no_such_member, plan
from ostiary.scim.resource_type import Loaded, StoredType, register
from ostiary.scim.timestamps import iso
from ostiary.services import Services
from ostiary.storage.repos.scim_groups import (
    DuplicateScimGroup,
    ScimGroupRepository,
    ScimGroupRow,
)
from ostiary.storage.repos.scim_users import ScimUserRepository
from ostiary.storage.scim_catalogue import group_catalogue

CORE = "urn:ietf:params:scim:schemas:core:2.0:group"
SCHEMAS = [str(Group.__schema__)]

CATALOGUE = group_catalogue(frozenset({CORE}))


def loaded(row: ScimGroupRow, base: str) -> Loaded:
    """The RFC 7643 §4.2 representation; the version covers the member counts, never the
    member list, so it is the same whether the members were loaded or not."""
    body: dict[str, Any] = {"schemas": SCHEMAS, "id": row.id, "displayName": row.name}
    if row.external_id is not None:
        body["externalId"] = row.external_id
    if row.members:
        body["members"] = [
            {"value": ident, "$ref": f"{base}/{kind}s/{ident}", "display": display, "type": kind}
            for ident, display, kind in row.members
        ]
    content = [row.name, row.external_id, row.user_count, row.group_count]
    body["meta"] = {
        "resourceType": "Group",
        "created": iso(row.created_at),
        "lastModified": iso(row.updated_at),
        "location": f"{base}/Groups/{row.id}",
        "version": etag(row.version, content),
    }
    return Loaded(body, row.version)


class GroupType(StoredType):
    name = "Group"
    model = Group
    catalogue = CATALOGUE
    lazy = frozenset({"members"})
    loaded = staticmethod(loaded)

    def repo(self, services: Services) -> ScimGroupRepository:
        return ScimGroupRepository(services.engine)

    async def _sorted_out(
        self, services: Services, wanted: set[str], own_id: str | None
    ) -> tuple[set[str], set[str]]:
        """Which of ``wanted`` are users and which groups; an unknown id is a 400."""
        if own_id in wanted:
            raise invalid_value("a group cannot be a member of itself")
        user_ids = await ScimUserRepository(services.engine).existing(sorted(wanted))
        group_ids = await self.repo(services).existing(sorted(wanted - user_ids))
        unknown = wanted - user_ids - group_ids
        if unknown:
            raise no_such_member(sorted(unknown)[0])
        if own_id and group_ids and await self._would_cycle(services, own_id, group_ids):
            raise invalid_value("nesting these groups would make a cycle")
        return user_ids, group_ids

    async def _require(self, services: Services, base: str, ident: str) -> Loaded:
        found = await self.get(services, base, ident)
        if found is None:
            raise not_found("Group", ident)
        return found

    async def create(
        self, services: Services, base: str, resource: Resource[Any], actor: str
    ) -> Loaded:
        group = _checked(resource)
        wanted = {str(m.value) for m in group.members or [] if m.value}
        user_ids, group_ids = await self._sorted_out(services, wanted, None)
        try:
            group_id = await self.repo(services).add(
                str(group.display_name), group.external_id, user_ids, group_ids
            )
        except DuplicateScimGroup:
            raise uniqueness(f"displayName {group.display_name!r} is taken") from None
        await services.audit.record("group.created", actor=actor, details={"group": group_id})
        return await self._require(services, base, group_id)

    async def replace(
        self, services: Services, base: str, before: Loaded, after: Resource[Any], actor: str
    ) -> Loaded:
        group = _checked(after)
        wanted = {str(m.value) for m in group.members or [] if m.value}
        user_ids, group_ids = await self._sorted_out(services, wanted, before.id)
        try:
            await self.repo(services).replace(
                before.id,
                before.counter,
                str(group.display_name),
                group.external_id,
                user_ids,
                group_ids,
            )
        except DuplicateScimGroup:
            raise uniqueness(f"displayName {group.display_name!r} is taken") from None
        await services.audit.record("group.updated", actor=actor, details={"group": before.id})
        return await self._require(services, base, before.id)

    async def patch(
        self, services: Services, base: str, before: Loaded, body: Any, actor: str
    ) -> bool:
        """RFC 7644 §3.5.2 member changes written as row changes (``group_patch``)."""
        planned = plan(body, before.id)
        if planned is None:
            return False
        changes, added = planned
        changes.add_users, changes.add_groups = await self._sorted_out(services, added, before.id)
        try:
            await self.repo(services).change(before.id, before.counter, changes)
        except DuplicateScimGroup:
            raise uniqueness(f"displayName {changes.name!r} is taken") from None
        await services.audit.record("group.updated", actor=actor, details={"group": before.id})
        return True

    async def _would_cycle(self, services: Services, group_id: str, children: set[str]) -> bool:
        """A child that already contains this group (at any depth) would close a loop."""
        repo = self.repo(services)
        seen: set[str] = set()
        frontier = set(children)
        while frontier:
            if group_id in frontier:
                return True
            seen |= frontier
            frontier = await repo.children(sorted(frontier)) - seen
        return False

    async def delete(self, services: Services, before: Loaded, actor: str) -> None:
        if await self.repo(services).delete(before.id, before.counter):
            await services.audit.record("group.deleted", actor=actor, details={"group": before.id})


def _checked(resource: Resource[Any]) -> Group:
    assert isinstance(resource, Group)
    if not resource.display_name:
        raise invalid_value("displayName is required")
    try:
        identifiers.group_name(resource.display_name, "displayName")
    except identifiers.InvalidIdentifier as exc:
        raise invalid_value(str(exc)) from None
    if resource.external_id is not None and len(resource.external_id) > 200:
        raise invalid_value("externalId is at most 200 characters")
    return resource


GROUPS = register(GroupType())
