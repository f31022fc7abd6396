"""Atomic conditional writes (RFC 7644 §3.14) and accounts made outside SCIM, against the
real server: concurrent requests really run side by side (asyncio.gather over httpx)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from ostiary.services import Services
from tests.conftest import SECRET_KEY, LiveServer, unique
from tests.e2e.processes import clean_env
from tests.e2e.scim_fixtures import (
    GROUP_SCHEMA,
    MEDIA,
    PATCH_SCHEMA,
    SCIM,
    USER_SCHEMA,
    scim_client,
    scim_token,
)
from tests.integration.test_cli import failed, ok, one_json_document, ostiary

ROUNDS = 6


@pytest.fixture(scope="module")
def token(server: LiveServer) -> str:
    return scim_token(server)


@pytest.fixture(scope="module")
def http(server: LiveServer, token: str) -> Iterator[httpx.Client]:
    with scim_client(server, token) as client:
        yield client


def _async_client(server: LiveServer, token: str) -> httpx.AsyncClient:
    headers = {"Content-Type": MEDIA, "Accept": MEDIA, "Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=server.base_url + SCIM, headers=headers, timeout=30)


def _ops(*operations: dict[str, object]) -> dict[str, object]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def _new_user(http: httpx.Client) -> dict[str, object]:
    response = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("cc")})
    assert response.status_code == 201, response.text
    return response.json()


def _race(
    server: LiveServer, token: str, requests: list[tuple[str, str, dict[str, object] | None, str]]
) -> list[httpx.Response]:
    """Send every (method, path, body, If-Match) at once and wait for all answers."""

    async def run() -> list[httpx.Response]:
        async with _async_client(server, token) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.request(method, path, json=body, headers={"If-Match": tag})
                        for method, path, body, tag in requests
                    )
                )
            )

    return asyncio.run(run())


def test_rfc7644_3_14_concurrent_patches_with_one_if_match_one_wins(
    server: LiveServer, token: str, http: httpx.Client
) -> None:
    """Two PATCHes carrying the same If-Match: exactly one 200, the other 412, round
    after round (the version check and the write are one conditional UPDATE)."""
    user = _new_user(http)
    url = f"/Users/{user['id']}"
    for round_ in range(ROUNDS):
        tag = http.get(url).headers["etag"]
        bodies = [
            _ops({"op": "replace", "path": "displayName", "value": f"r{round_}-{side}"})
            for side in ("a", "b")
        ]
        answers = _race(server, token, [("PATCH", url, b, tag) for b in bodies])
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200).json()
        loser = next(a for a in answers if a.status_code == 412).json()
        assert loser["status"] == "412"
        final = http.get(url).json()
        assert final["displayName"] == winner["displayName"]
        assert final["meta"]["version"] == winner["meta"]["version"] != tag


def test_rfc7644_3_14_concurrent_group_patches_with_one_if_match_one_wins(
    server: LiveServer, token: str, http: httpx.Client
) -> None:
    users = [str(_new_user(http)["id"]) for _ in range(2)]
    group = http.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": unique("cg")})
    url = f"/Groups/{group.json()['id']}"
    for round_ in range(ROUNDS):
        tag = http.get(url, params={"excludedAttributes": "members"}).headers["etag"]
        op = "add" if round_ % 2 == 0 else "remove"
        bodies = [_ops({"op": op, "path": "members", "value": [{"value": u}]}) for u in users]
        answers = _race(server, token, [("PATCH", url, b, tag) for b in bodies])
        assert sorted(a.status_code for a in answers) == [204, 412], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 204)
        assert http.get(url).headers["etag"] == winner.headers["etag"] != tag


def test_rfc7644_3_14_delete_racing_a_patch_on_one_version(
    server: LiveServer, token: str, http: httpx.Client
) -> None:
    for _ in range(ROUNDS // 2):
        user = _new_user(http)
        url = f"/Users/{user['id']}"
        tag = str(user["meta"]["version"])
        change = _ops({"op": "replace", "path": "nickName", "value": "x"})
        answers = _race(server, token, [("PATCH", url, change, tag), ("DELETE", url, None, tag)])
        codes = sorted(a.status_code for a in answers)
        assert codes in ([200, 412], [204, 412]), [a.text for a in answers]
        gone = http.get(url).status_code == 404
        assert gone is (204 in codes)


def test_concurrent_patches_without_if_match_lose_nothing(
    server: LiveServer, token: str, http: httpx.Client
) -> None:
    """PATCH is read-modify-write; without If-Match a writer that loses the race is run
    again on the new version, so every added value survives."""
    user = _new_user(http)
    url = f"/Users/{user['id']}"
    numbers = [f"+1 555 01{i:02d}" for i in range(6)]

    async def run() -> list[httpx.Response]:
        async with _async_client(server, token) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.patch(
                            url,
                            json=_ops(
                                {"op": "add", "path": "phoneNumbers", "value": [{"value": n}]}
                            ),
                        )
                        for n in numbers
                    )
                )
            )

    answers = asyncio.run(run())
    assert [a.status_code for a in answers] == [200] * len(numbers), [a.text for a in answers]
    stored = {p["value"] for p in http.get(url).json()["phoneNumbers"]}
    assert stored == set(numbers)


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


def test_user_made_by_the_cli_is_visible_to_scim_at_once(
    http: httpx.Client, cli_env: dict[str, str]
) -> None:
    """No sweep: the CLI's account is in the SCIM view the moment the command returns,
    filterable by userName (any case) and email, and PATCHable with its ETag."""
    username = unique("Cli-User")
    made = one_json_document(
        ostiary(
            cli_env,
            "user",
            "create",
            "--username",
            username,
            "--email",
            f"{username}@example.com",
            "--json",
        )
    )
    found = http.get("/Users", params={"filter": f'userName eq "{username.lower()}"'}).json()
    assert [r["id"] for r in found["Resources"]] == [made["id"]]
    by_mail = http.get(
        "/Users", params={"filter": f'emails[value eq "{username.upper()}@EXAMPLE.COM"]'}
    ).json()
    assert [r["userName"] for r in by_mail["Resources"]] == [username]
    tag = http.get(f"/Users/{made['id']}").headers["etag"]
    renamed = http.patch(
        f"/Users/{made['id']}",
        json=_ops({"op": "replace", "path": "displayName", "value": "From CLI"}),
        headers={"If-Match": tag},
    )
    assert renamed.status_code == 200 and renamed.json()["displayName"] == "From CLI"


def test_account_with_a_special_use_address_is_patched_and_deactivated_over_scim(
    http: httpx.Client, cli_env: dict[str, str]
) -> None:
    """RFC 6761 special-use domains pass every door's one email rule, SCIM included (it no
    longer applies scim2-models' stricter check): a CLI-made account with such an address
    is patched and deprovisioned over SCIM."""
    username = unique("special")
    made = one_json_document(
        ostiary(
            cli_env,
            "user",
            "create",
            "--username",
            username,
            "--email",
            f"{username}@x.test",
            "--json",
        )
    )
    assert http.get(f"/Users/{made['id']}").json()["emails"][0]["value"] == f"{username}@x.test"
    renamed = http.patch(
        f"/Users/{made['id']}",
        json=_ops({"op": "replace", "path": "displayName", "value": "x"}),
    )
    assert renamed.status_code == 200, renamed.text
    off = http.patch(
        f"/Users/{made['id']}", json=_ops({"op": "replace", "value": {"active": False}})
    )
    assert off.status_code == 200 and off.json()["active"] is False, off.text


def test_rfc7643_4_1_1_usernames_differing_in_case_are_one_name(
    http: httpx.Client, cli_env: dict[str, str]
) -> None:
    """userName is caseExact=false and unique: the CLI refuses a case variant of an
    existing account (and SCIM answers 409 uniqueness), so SCIM never sees two."""
    username = unique("Case")
    ok(ostiary(cli_env, "user", "create", "--username", username))
    failed(ostiary(cli_env, "user", "create", "--username", username.upper()), "already exists")
    clash = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": username.lower()})
    assert clash.status_code == 409 and clash.json()["scimType"] == "uniqueness"


def test_rfc7644_3_14_group_made_outside_scim_races_too(
    server: LiveServer, token: str, http: httpx.Client
) -> None:
    """A group from the CLI / admin API has no SCIM counter yet (version 0): the first
    SCIM writes race to create it, and still exactly one of them wins."""
    users = [str(_new_user(http)["id"]) for _ in range(2)]
    name = unique("cli-group")

    async def make(services: Services) -> str:
        return (await services.store.access.create_group(name)).id

    url = f"/Groups/{server.call(make)}"
    tag = http.get(url).headers["etag"]
    assert tag.startswith('W/"0-')
    bodies = [_ops({"op": "add", "path": "members", "value": [{"value": u}]}) for u in users]
    answers = _race(server, token, [("PATCH", url, b, tag) for b in bodies])
    assert sorted(a.status_code for a in answers) == [204, 412], [a.text for a in answers]
    assert len(http.get(url).json()["members"]) == 1
