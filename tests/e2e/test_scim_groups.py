"""SCIM Groups on the real server: nested groups feed roles, big member lists, cycles,
and users created outside SCIM becoming visible to it (RFC 7643 §4.2, RFC 7644 §3.5)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ostiary.services import Services
from ostiary.storage.repos.scim_users import ScimUserRecord, ScimUserRepository
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import make_user
from tests.e2e.scim_fixtures import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    scim_client,
    scim_token,
)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


def new_group(http: httpx.Client, members: list[str] | None = None) -> dict[str, object]:
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": unique("grp"),
        "members": [{"value": m} for m in members or []],
    }
    response = http.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_rfc7643_4_2_nested_group_members_inherit_roles(
    server: LiveServer, http: httpx.Client
) -> None:
    username = make_user(server)
    role = unique("role")

    async def setup(services: Services) -> str:
        user = await services.store.users.by_username(username)
        assert user is not None
        await services.store.access.create_role(role)
        return user.id

    user_id = server.call(setup)
    child = new_group(http, [user_id])
    parent = new_group(http, [str(child["id"])])
    members = parent["members"]
    assert isinstance(members, list)
    assert members[0]["type"] == "Group" and members[0]["value"] == child["id"]

    async def roles(services: Services) -> frozenset[str]:
        await services.store.access.grant_group_role(str(parent["id"]), role)
        return frozenset((await services.store.access.effective(user_id)).roles)

    assert role in server.call(roles)
    cycle = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": parent["id"]}]}],
    }
    refused = http.patch(f"/Groups/{child['id']}", json=cycle)
    assert refused.status_code == 400 and refused.json()["schemas"] == [ERROR_SCHEMA]
    assert refused.json()["scimType"] == "invalidValue"


def test_rfc7644_3_5_1_put_with_a_large_member_list(server: LiveServer, http: httpx.Client) -> None:
    """More members than one SQL statement may bind (SQLite / asyncpg cap near 32k
    parameters at most; our slices are 1000)."""
    tag = unique("bulk").lower()

    async def many(services: Services) -> list[str]:
        repo = ScimUserRepository(services.engine)
        ids = []
        for i in range(1500):
            name = f"{tag}-{i:04d}"
            record = ScimUserRecord(
                {"username": name, "profile": {}, "disabled": False},
                {"user_name_ci": name, "resource": {}},
            )
            ids.append((await repo.add(record)).id)
        return ids

    ids = server.call(many)
    group = new_group(http)
    body = {"schemas": [GROUP_SCHEMA], "displayName": group["displayName"]}
    full = http.put(f"/Groups/{group['id']}", json={**body, "members": [{"value": i} for i in ids]})
    assert full.status_code == 200, full.text
    assert len(full.json()["members"]) == 1500
    half = http.put(
        f"/Groups/{group['id']}", json={**body, "members": [{"value": i} for i in ids[::2]]}
    )
    assert {m["value"] for m in half.json()["members"]} == set(ids[::2])
    slim = http.get(f"/Groups/{group['id']}", params={"excludedAttributes": "members"})
    assert "members" not in slim.json() and slim.json()["displayName"] == group["displayName"]


def test_users_created_elsewhere_are_scim_visible_at_once(
    server: LiveServer, http: httpx.Client
) -> None:
    """An account made with the CLI / admin API has its SCIM row from the first moment
    (written in the same transaction), so a directory's `userName eq` lookup finds it
    instead of failing on a 409; no background sweep."""
    username = make_user(server)
    found = http.get("/Users", params={"filter": f'userName eq "{username.upper()}"'}).json()
    assert [r["userName"] for r in found["Resources"]] == [username]
    assert found["Resources"][0]["emails"][0]["value"] == f"{username}@example.com"
    clash = http.post(
        "/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": username},
    )
    assert clash.status_code == 409 and clash.json()["scimType"] == "uniqueness"
