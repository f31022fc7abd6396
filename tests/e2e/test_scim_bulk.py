"""SCIM Bulk (RFC 7644 §3.7) on the real server: bulkId references (forward and in
paths), each operation's own status, failOnErrors, circular references, limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, unique
from tests.e2e.scim_fixtures import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    scim_client,
    scim_token,
)

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


def bulk(http: httpx.Client, *ops: dict[str, Any], **extra: Any) -> httpx.Response:
    return http.post("/Bulk", json={"schemas": [BULK_REQUEST], "Operations": list(ops), **extra})


def new_user(bulk_id: str, name: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": bulk_id,
        "data": {"schemas": [USER_SCHEMA], "userName": name},
    }


def test_rfc7644_3_7_limits_are_advertised(http: httpx.Client) -> None:
    config = http.get("/ServiceProviderConfig").json()["bulk"]
    assert config == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}


def test_rfc7644_3_7_2_bulk_ids_resolve_forward_and_in_paths(http: httpx.Client) -> None:
    alice, bob, team = unique("alice"), unique("bob"), unique("team")
    answer = bulk(
        http,
        # The group comes first and names users created later in the same request.
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "g",
            "data": {
                "schemas": [GROUP_SCHEMA],
                "displayName": team,
                "members": [{"value": "bulkId:a"}, {"value": "bulkId:b"}],
            },
        },
        new_user("a", alice),
        new_user("b", bob),
        {
            "method": "PATCH",
            "path": "/Users/bulkId:a",
            "data": {
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Alice"}],
            },
        },
        {"method": "DELETE", "path": "/Users/bulkId:b"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["schemas"] == [BULK_RESPONSE]
    results = body["Operations"]
    assert [(r["method"], r["status"]) for r in results] == [
        ("POST", "201"),
        ("POST", "201"),
        ("POST", "201"),
        ("PATCH", "200"),
        ("DELETE", "204"),
    ]
    group_url, alice_url = results[0]["location"], results[1]["location"]
    alice_id = alice_url.rsplit("/", 1)[-1]
    group = http.get(group_url.split("/scim/v2", 1)[1]).json()
    # Bob was deleted by the last operation, so only Alice is left in the group.
    assert [m["value"] for m in group["members"]] == [alice_id]
    fetched = http.get(f"/Users/{alice_id}")
    assert fetched.json()["displayName"] == "Alice"
    assert fetched.headers["etag"] == results[3]["version"]
    assert http.get(results[2]["location"].split("/scim/v2", 1)[1]).status_code == 404


def test_rfc7644_3_7_3_fail_on_errors_stops_the_job(http: httpx.Client) -> None:
    taken = unique("taken")
    assert bulk(http, new_user("t", taken)).json()["Operations"][0]["status"] == "201"
    later = unique("later")
    answer = bulk(http, new_user("x", taken), new_user("y", later), failOnErrors=1)
    assert answer.status_code == 200
    results = answer.json()["Operations"]
    assert len(results) == 1 and results[0]["status"] == "409"
    assert results[0]["bulkId"] == "x"
    assert results[0]["response"]["scimType"] == "uniqueness"
    assert results[0]["response"]["schemas"] == [ERROR_SCHEMA]
    missing = http.get("/Users", params={"filter": f'userName eq "{later}"'}).json()
    assert missing["totalResults"] == 0
    # Without failOnErrors every operation runs and reports its own status.
    answer = bulk(http, new_user("x", taken), new_user("y", later))
    assert [r["status"] for r in answer.json()["Operations"]] == ["409", "201"]


def test_rfc7644_3_7_1_circular_or_unknown_bulk_ids_are_409(http: httpx.Client) -> None:
    def group(bulk_id: str, other: str) -> dict[str, Any]:
        return {
            "method": "POST",
            "path": "/Groups",
            "bulkId": bulk_id,
            "data": {
                "schemas": [GROUP_SCHEMA],
                "displayName": unique("loop"),
                "members": [{"value": f"bulkId:{other}"}],
            },
        }

    answer = bulk(http, group("p", "q"), group("q", "p"), group("r", "nowhere"))
    results = answer.json()["Operations"]
    assert [r["status"] for r in results] == ["409", "409", "409"]
    assert all(r["response"]["scimType"] == "invalidValue" for r in results)


def test_rfc7644_3_14_version_in_a_bulk_operation_is_if_match(http: httpx.Client) -> None:
    made = bulk(http, new_user("v", unique("ver"))).json()["Operations"][0]
    path = made["location"].split("/scim/v2", 1)[1]
    change = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "nickName", "value": "n"}],
    }
    first = {"method": "PATCH", "path": path, "version": made["version"], "data": change}
    results = bulk(http, first, dict(first)).json()["Operations"]
    # The second carries the version the first one just replaced.
    assert [r["status"] for r in results] == ["200", "412"]


@pytest.mark.parametrize(
    ("body", "status", "scim_type"),
    [
        ({"Operations": [{"method": "DELETE", "path": "/Users/x"}]}, 400, "invalidSyntax"),
        ({"schemas": [BULK_REQUEST], "Operations": []}, 400, "invalidSyntax"),
        (
            {"schemas": [BULK_REQUEST], "Operations": [{"method": "POST", "path": "/Users"}]},
            400,
            "invalidSyntax",
        ),
        (
            {"schemas": [BULK_REQUEST], "Operations": [{"method": "GET", "path": "/Users"}]},
            400,
            "invalidSyntax",
        ),
        (
            {
                "schemas": [BULK_REQUEST],
                "failOnErrors": "one",
                "Operations": [{"method": "DELETE", "path": "/Users/x"}],
            },
            400,
            "invalidValue",
        ),
        (
            {
                "schemas": [BULK_REQUEST],
                "Operations": [{"method": "DELETE", "path": "/Users/x"}] * 1001,
            },
            413,
            "tooLarge",
        ),
    ],
)
def test_rfc7644_3_7_malformed_or_too_large_requests(
    http: httpx.Client, body: dict[str, Any], status: int, scim_type: str
) -> None:
    answer = http.post("/Bulk", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["schemas"] == [ERROR_SCHEMA]
    assert answer.json()["scimType"] == scim_type


def test_rfc7644_3_7_4_payload_over_max_payload_size_is_413(http: httpx.Client) -> None:
    huge = new_user("h", unique("huge"))
    huge["data"]["nickName"] = "x" * 1_100_000
    answer = bulk(http, huge)
    assert answer.status_code == 413
    assert answer.json()["scimType"] == "tooLarge"


def test_rfc7644_3_7_unknown_paths_and_missing_resources_fail_alone(http: httpx.Client) -> None:
    answer = bulk(
        http,
        {"method": "DELETE", "path": "/Nothing/x"},
        {"method": "DELETE", "path": f"/Users/{unique('ghost')}"},
        {"method": "PUT", "path": "/Users"},
        new_user("ok", unique("fine")),
    )
    assert [r["status"] for r in answer.json()["Operations"]] == ["404", "404", "405", "201"]
