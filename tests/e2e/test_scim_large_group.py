"""A 10,000-member group (RFC 7644 §3.14, §3.9, §3.5.2): its version, a GET without
members and a membership PATCH never read the member list. The server's own SQL is
watched to prove it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert

from ostiary import clock
from ostiary.services import Services
from ostiary.storage.tables import group_members, scim_users, users
from tests.conftest import LiveServer, unique
from tests.e2e.scim_fixtures import GROUP_SCHEMA, PATCH_SCHEMA, scim_client, scim_token

SIZE = 10_000


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


@pytest.fixture(scope="module")
def big_group(server: LiveServer, http: httpx.Client) -> tuple[str, list[str]]:
    """SIZE users and a group holding them all, written as rows in one transaction."""
    tag = unique("big").lower()
    ids = [str(uuid.uuid4()) for _ in range(SIZE + 1)]
    group = http.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": tag})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]

    async def fill(services: Services) -> None:
        now = clock.now()
        async with services.engine.begin() as conn:
            await conn.execute(
                insert(users),
                [
                    {"id": i, "username": f"{tag}-{n:05d}", "created_at": now, "updated_at": now}
                    for n, i in enumerate(ids)
                ],
            )
            await conn.execute(
                insert(scim_users),
                [{"user_id": i, "user_name_ci": f"{tag}-{n:05d}"} for n, i in enumerate(ids)],
            )
            await conn.execute(
                insert(group_members), [{"group_id": group_id, "user_id": i} for i in ids[:SIZE]]
            )

    server.call(fill)
    return group_id, ids


class Statements:
    """Every SQL statement the server runs while the block is open."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.seen: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> Statements:
        event.listen(self.server.services.engine.sync_engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.server.services.engine.sync_engine, "before_cursor_execute", self._record)

    def member_list_reads(self) -> list[str]:
        # The member list query joins group_members to users for the usernames.
        return [s for s in self.seen if "group_members" in s and "users.username" in s]


def _ops(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def test_rfc7644_3_9_get_without_members_reads_no_member(
    server: LiveServer, http: httpx.Client, big_group: tuple[str, list[str]]
) -> None:
    group_id, _ = big_group
    with Statements(server) as sql:
        slim = http.get(f"/Groups/{group_id}", params={"excludedAttributes": "members"})
    assert slim.status_code == 200 and "members" not in slim.json()
    assert sql.member_list_reads() == []
    with Statements(server) as sql:
        full = http.get(f"/Groups/{group_id}")
    assert len(full.json()["members"]) == SIZE
    assert sql.member_list_reads() != []
    # RFC 7644 §3.14: one version, whichever attributes were asked for.
    assert slim.headers["etag"] == full.headers["etag"] == full.json()["meta"]["version"]
    only_name = http.get(f"/Groups/{group_id}", params={"attributes": "displayName"})
    assert "members" not in only_name.json()
    assert only_name.headers["etag"] == slim.headers["etag"]


def test_rfc7644_3_5_2_membership_patch_reads_no_member_list(
    server: LiveServer, http: httpx.Client, big_group: tuple[str, list[str]]
) -> None:
    group_id, ids = big_group
    url = f"/Groups/{group_id}"
    tag = http.get(url, params={"excludedAttributes": "members"}).headers["etag"]
    newcomer, leaver = ids[SIZE], ids[0]
    with Statements(server) as sql:
        added = http.patch(
            url,
            json=_ops({"op": "add", "path": "members", "value": [{"value": newcomer}]}),
            headers={"If-Match": tag},
        )
        removed = http.patch(
            url,
            json=_ops({"op": "remove", "path": f'members[value eq "{leaver}"]'}),
            headers={"If-Match": added.headers["etag"]},
        )
    assert added.status_code == 204 and removed.status_code == 204, removed.text
    assert sql.member_list_reads() == []
    assert len({tag, added.headers["etag"], removed.headers["etag"]}) == 3
    stale = http.patch(
        url,
        json=_ops({"op": "replace", "path": "displayName", "value": unique("x")}),
        headers={"If-Match": tag},
    )
    assert stale.status_code == 412
    members = {m["value"] for m in http.get(url).json()["members"]}
    assert newcomer in members and leaver not in members and len(members) == SIZE
    # Asking for the members back gets them, as RFC 7644 §3.5.2's 200 answer.
    shown = http.patch(
        url,
        params={"attributes": "displayName"},
        json=_ops({"op": "add", "path": "members", "value": [{"value": leaver}]}),
    )
    assert shown.status_code == 200 and set(shown.json()) >= {"id", "displayName"}


def test_rfc7644_3_14_membership_change_through_another_door_is_a_new_version(
    server: LiveServer, http: httpx.Client, big_group: tuple[str, list[str]]
) -> None:
    """The CLI / admin API do not bump the SCIM counter, but the member count is part of
    the version, so a stale If-Match still gets 412."""
    group_id, ids = big_group
    url = f"/Groups/{group_id}"
    tag = http.get(url, params={"excludedAttributes": "members"}).headers["etag"]
    someone = ids[1]

    async def remove(services: Services) -> bool:
        return await services.store.access.remove_member(group_id, someone)

    assert server.call(remove)
    assert http.get(url, params={"excludedAttributes": "members"}).headers["etag"] != tag
    late = http.patch(
        url,
        json=_ops({"op": "add", "path": "members", "value": [{"value": someone}]}),
        headers={"If-Match": tag},
    )
    assert late.status_code == 412
