"""What an export reads beyond the repositories: group nesting, and the assignments an
operator made by hand (not those a federation claim mapping gave, which are re-evaluated
at each upstream login) with every account's upstream links."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.tables import federated_identities, group_members, group_parents, user_roles


@dataclass
class ManualAssignments:
    roles: dict[str, list[str]] = field(default_factory=dict)  # user id -> role names
    groups: dict[str, list[str]] = field(default_factory=dict)  # user id -> group ids
    links: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # -> (provider, sub)


async def group_nesting(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(child id, parent id) of every nesting."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(group_parents))).all()
    return [(row.child_id, row.parent_id) for row in rows]


async def manual_assignments(engine: AsyncEngine) -> ManualAssignments:
    found = ManualAssignments()
    async with engine.connect() as conn:
        for row in await conn.execute(
            select(user_roles.c.user_id, user_roles.c.role).where(
                user_roles.c.federation_provider.is_(None)
            )
        ):
            found.roles.setdefault(row.user_id, []).append(row.role)
        for member in await conn.execute(
            select(group_members.c.user_id, group_members.c.group_id).where(
                group_members.c.federation_provider.is_(None)
            )
        ):
            found.groups.setdefault(member.user_id, []).append(member.group_id)
        for link in await conn.execute(
            select(
                federated_identities.c.user_id,
                federated_identities.c.provider,
                federated_identities.c.subject,
            )
        ):
            found.links.setdefault(link.user_id, []).append((link.provider, link.subject))
    return found
