"""The configuration a database holds now, read through the repositories.

Roles and group memberships a federation claim mapping gave (re-evaluated at each
upstream login) are not configuration: only manual ones are read. Upstream tokens,
sessions, codes, refresh tokens, consents and signing keys are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ostiary.domain.access import Group, Role, Scope
from ostiary.domain.clients import Client
from ostiary.domain.identifiers import username_key
from ostiary.domain.users import User
from ostiary.federation.providers import Provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.queries import configuration
from ostiary.storage.repos.federation_providers import ProviderRepository


@dataclass(frozen=True, slots=True)
class GroupState:
    group: Group
    parents: tuple[str, ...]  # names
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserState:
    user: User
    roles: tuple[str, ...]  # manual assignments only
    groups: tuple[str, ...]  # names of the groups it is a manual member of
    links: tuple[tuple[str, str], ...]  # (provider, subject)


@dataclass
class Snapshot:
    clients: dict[str, Client]
    roles: dict[str, Role]
    scopes: dict[str, Scope]
    groups: dict[str, GroupState]  # by name
    providers: dict[str, Provider]
    users: dict[str, UserState] = field(default_factory=dict)  # by id

    def user_named(self, key: str) -> UserState | None:
        """The user whose username compares equal (``identifiers.username_key``) to ``key``."""
        return next((u for u in self.users.values() if username_key(u.user.username) == key), None)


def providers(services: Services) -> ProviderRepository:
    return ProviderRepository(services.engine, client_secrets(services.settings))


async def read(services: Services, *, users: bool) -> Snapshot:
    access = services.store.access
    group_list = await access.list_groups()
    names = {g.id: g.name for g in group_list}
    parents: dict[str, list[str]] = {}
    for child_id, parent_id in await configuration.group_nesting(services.engine):
        parents.setdefault(child_id, []).append(names[parent_id])
    groups = {
        g.name: GroupState(
            g,
            tuple(sorted(parents.get(g.id, []))),
            tuple(await access.group_role_names(g.id)),
        )
        for g in group_list
    }
    return Snapshot(
        clients={c.client_id: c for c in await services.store.clients.list()},
        roles={r.name: r for r in await access.list_roles()},
        scopes={s.name: s for s in await access.list_scopes()},
        groups=groups,
        providers={p.name: p for p in await providers(services).list()},
        users=await _users(services, names) if users else {},
    )


async def _users(services: Services, group_names: dict[str, str]) -> dict[str, UserState]:
    manual = await configuration.manual_assignments(services.engine)
    return {
        u.id: UserState(
            u,
            tuple(sorted(manual.roles.get(u.id, []))),
            tuple(sorted(group_names[g] for g in manual.groups.get(u.id, []))),
            tuple(sorted(manual.links.get(u.id, []))),
        )
        for u in await services.store.users.list()
    }
