"""The MFA policy flags in storage: ``require_mfa`` on roles, groups and clients and
``trust_mfa`` on upstream providers, and ``Access.mfa_required_by`` (what of a user's
effective roles and groups requires a second factor), on SQLite, PostgreSQL and the
in-memory store alike."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ostiary.domain.federation import Provider
from ostiary.domain.repositories import Store
from ostiary.oauth.registration import ClientSpec, register
from ostiary.portable.apply import apply
from ostiary.portable.document import dumps, parse
from ostiary.portable.export import export
from ostiary.portable.plan import Change
from ostiary.portable.snapshot import providers
from ostiary.services import Services
from ostiary.storage.memory import MemoryStore
from tests import databases
from tests.conftest import open_services, unique
from tests.databases import BACKENDS

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


# -- the state document (ostiary export / import) -----------------------------------------


@pytest.fixture(params=BACKENDS)
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A source and a target database, fresh, on one backend; dropped after."""
    urls = (databases.create(request.param, tmp_path), databases.create(request.param, tmp_path))
    yield urls
    for url in urls:
        databases.drop(url)


async def _flagged(services: Services) -> None:
    """One of each flag set and one of each left off."""
    access = services.store.access
    await access.create_role("mfa-role", "needs two factors", require_mfa=True)
    await access.create_role("plain-role")
    top = await access.create_group("mfa-group", require_mfa=True)
    child = await access.create_group("child-group")
    await access.nest(child.id, top.id)
    for client_id in ("mfa-client", "plain-client"):
        spec = ClientSpec(
            name=client_id,
            client_id=client_id,
            redirect_uris=[],
            grant_types=["client_credentials"],
            scopes=[],
        )
        await register(services.store.clients, spec)
    await services.store.clients.update("mfa-client", require_mfa=True)
    for name, trusted in (("mfa-idp", True), ("plain-idp", False)):
        provider = Provider(
            name, name, "oidc", f"https://{name}.example", "ostiary", None, ("openid",)
        )
        await providers(services).add(dataclasses.replace(provider, trust_mfa=trusted))


def _flags(document: dict[str, Any]) -> dict[str, bool]:
    found = {e["name"]: e["require_mfa"] for e in document["roles"] + document["groups"]}
    found |= {e["client_id"]: e["require_mfa"] for e in document["clients"]}
    found |= {e["name"]: e["trust_mfa"] for e in document["providers"]}
    return {k: v for k, v in found.items() if k.startswith(("mfa-", "plain-", "child-"))}


FLAGS = {
    "mfa-role": True,
    "plain-role": False,
    "mfa-group": True,
    "child-group": False,
    "mfa-client": True,
    "plain-client": False,
    "mfa-idp": True,
    "plain-idp": False,
}


async def _import(services: Services, document: dict[str, Any]) -> list[Change]:
    outcome = await apply(
        services, parse(dumps(document)), prune=False, dry_run=False, on_done=lambda _: None
    )
    return outcome.changes


async def test_an_exported_flag_is_imported_and_exported_again_byte_identical(
    two_databases: tuple[str, str],
) -> None:
    source, target = two_databases
    async with open_services(source) as services:
        await _flagged(services)
        document = await export(services, include_users=False)
    assert _flags(document) == FLAGS
    async with open_services(target) as services:
        await _import(services, document)
        assert dumps(await export(services, include_users=False)) == dumps(document)
        assert await _import(services, document) == [], "a second import changes nothing"
        # What the sign-in policy reads, straight from the repositories.
        user = await _user(services.store)
        child = await services.store.access.get_group("child-group")
        assert child is not None
        await services.store.access.add_member(child.id, user)
        await services.store.access.assign(user, "mfa-role")
        await services.store.access.assign(user, "plain-role")
        assert await services.store.access.mfa_required_by(user) == [
            "group:mfa-group",
            "role:mfa-role",
        ]
        client = await services.store.clients.get("mfa-client")
        assert client is not None and client.require_mfa
        idp = await providers(services).get("mfa-idp")
        assert idp is not None and idp.trust_mfa


async def test_an_imported_document_turns_each_flag_on_and_off_and_audits_it(
    two_databases: tuple[str, str],
) -> None:
    source, _ = two_databases
    async with open_services(source) as services:
        await _flagged(services)
        document = await export(services, include_users=False)
        flipped = json.loads(dumps(document))
        for entry in flipped["roles"] + flipped["groups"] + flipped["clients"]:
            if entry.get("name", entry.get("client_id")) in FLAGS:
                entry["require_mfa"] = not entry["require_mfa"]
        for entry in flipped["providers"]:
            entry["trust_mfa"] = not entry["trust_mfa"]
        changes = await _import(services, flipped)
        assert sorted((c.kind, c.name, c.detail) for c in changes) == sorted(
            [(kind, name, "require_mfa") for kind, name in _KINDS]
            + [("provider", "mfa-idp", "trust_mfa"), ("provider", "plain-idp", "trust_mfa")]
        )
        assert _flags(await export(services, include_users=False)) == {
            k: not v for k, v in FLAGS.items()
        }
        await services.audit.flush()
        events = await services.store.audit.query(type="role.updated", limit=1000)
        assert [e.details for e in events if e.details.get("name") == "mfa-role"] == [
            {
                "name": "mfa-role",
                "before": {"require_mfa": True},
                "after": {"require_mfa": False},
                "via": "import",
            }
        ]


_KINDS = [
    ("role", "mfa-role"),
    ("role", "plain-role"),
    ("group", "mfa-group"),
    ("group", "child-group"),
    ("client", "mfa-client"),
    ("client", "plain-client"),
]
