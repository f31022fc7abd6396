"""The MFA policy flags in storage: ``require_mfa`` on roles, groups and clients and
``trust_mfa`` on upstream providers, and ``Access.mfa_required_by`` (what of a user's
effective roles and groups requires a second factor), on SQLite, PostgreSQL and the
in-memory store alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from ostiary.domain.repositories import Store
from ostiary.services import Services
from ostiary.storage.memory import MemoryStore
from tests.conftest import unique

pytestmark = pytest.mark.anyio

# A world: the user's id, and the names (unique per test) of what the test built.
World = tuple[str, dict[str, str]]
Build = Callable[[Store], Awaitable[World]]


async def _user(store: Store) -> str:
    return (await store.users.add(username=unique("mfa"), email=None, password_hash=None)).id


async def _role(store: Store, *, mfa: bool) -> str:
    return (await store.access.create_role(unique("role"), require_mfa=mfa)).name


async def _group(store: Store, *, mfa: bool) -> tuple[str, str]:
    group = await store.access.create_group(unique("group"), require_mfa=mfa)
    return group.id, group.name


async def direct_role(store: Store) -> World:
    user, role, other = (
        await _user(store),
        await _role(store, mfa=True),
        await _role(store, mfa=False),
    )
    await store.access.assign(user, role)
    await store.access.assign(user, other)
    return user, {"role": role}


async def role_through_group(store: Store) -> World:
    user, role = await _user(store), await _role(store, mfa=True)
    group_id, _ = await _group(store, mfa=False)
    await store.access.add_member(group_id, user)
    await store.access.grant_group_role(group_id, role)
    return user, {"role": role}


async def nested_group(store: Store) -> World:
    """The user is in the child; the grandparent requires MFA (ancestors any depth up)."""
    user = await _user(store)
    child_id, _ = await _group(store, mfa=False)
    parent_id, _ = await _group(store, mfa=False)
    top_id, top = await _group(store, mfa=True)
    await store.access.nest(child_id, parent_id)
    await store.access.nest(parent_id, top_id)
    await store.access.add_member(child_id, user)
    return user, {"group": top}


async def role_of_parent_group(store: Store) -> World:
    """A role granted to a parent group reaches the members of its subgroups."""
    user, role = await _user(store), await _role(store, mfa=True)
    child_id, _ = await _group(store, mfa=False)
    parent_id, _ = await _group(store, mfa=False)
    await store.access.nest(child_id, parent_id)
    await store.access.grant_group_role(parent_id, role)
    await store.access.add_member(child_id, user)
    return user, {"role": role}


async def both_kinds(store: Store) -> World:
    user, role = await _user(store), await _role(store, mfa=True)
    group_id, group = await _group(store, mfa=True)
    await store.access.add_member(group_id, user)
    await store.access.assign(user, role)
    return user, {"role": role, "group": group}


async def flags_off(store: Store) -> World:
    user, role = await _user(store), await _role(store, mfa=False)
    group_id, _ = await _group(store, mfa=False)
    await store.access.add_member(group_id, user)
    await store.access.assign(user, role)
    return user, {}


async def nothing_held(store: Store) -> World:
    await _role(store, mfa=True)
    await _group(store, mfa=True)
    return await _user(store), {}


async def unknown_user(store: Store) -> World:
    return "00000000-0000-4000-8000-000000000000", {}


async def flag_turned_off(store: Store) -> World:
    """A role and a group whose flag an update took away again."""
    user, role = await _user(store), await _role(store, mfa=True)
    group_id, _ = await _group(store, mfa=True)
    await store.access.assign(user, role)
    await store.access.add_member(group_id, user)
    await store.access.update_role(role, require_mfa=False)
    await store.access.update_group(group_id, require_mfa=False)
    return user, {}


async def flag_turned_on(store: Store) -> World:
    user, role = await _user(store), await _role(store, mfa=False)
    group_id, group = await _group(store, mfa=False)
    await store.access.assign(user, role)
    await store.access.add_member(group_id, user)
    await store.access.update_role(role, require_mfa=True)
    await store.access.update_group(group_id, require_mfa=True)
    return user, {"role": role, "group": group}


WORLDS: list[Build] = [
    direct_role,
    role_through_group,
    nested_group,
    role_of_parent_group,
    both_kinds,
    flags_off,
    nothing_held,
    unknown_user,
    flag_turned_off,
    flag_turned_on,
]


@pytest.fixture
def memory() -> Store:
    return MemoryStore()


async def _expect(store: Store, build: Build) -> None:
    user, names = await build(store)
    expected = sorted(f"{kind}:{name}" for kind, name in names.items())
    assert await store.access.mfa_required_by(user) == expected


@pytest.mark.parametrize("build", WORLDS, ids=lambda b: b.__name__)
async def test_mfa_required_by_sql(services: Services, build: Build) -> None:
    await _expect(services.store, build)


@pytest.mark.parametrize("build", WORLDS, ids=lambda b: b.__name__)
async def test_mfa_required_by_memory(memory: Store, build: Build) -> None:
    await _expect(memory, build)
