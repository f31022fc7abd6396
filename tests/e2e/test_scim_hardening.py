"""SCIM never answers 500 and never stores what it cannot serve back: one regression test
per defect found by the attack pass, on the real server, on SQLite and PostgreSQL.

- a lone surrogate (JSON ``"\\ud800"``) on every write path is a 400, nothing stored;
- a startIndex or count beyond 64 bits is a 400 (RFC 7644 §3.4.2.4);
- concurrent creates with one bad request: every valid one succeeds;
- stored values the model now refuses (``notanemail``, ``a@b``, ...) still render, with
  ``attributes`` and ``excludedAttributes`` too (RFC 7644 §3.9).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from ostiary.services import Services
from ostiary.storage.tables import scim_user_emails, scim_users, users
from tests.conftest import LiveServer, unique
from tests.e2e.scim_fixtures import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    MEDIA,
    PATCH_SCHEMA,
    SCIM,
    USER_SCHEMA,
    scim_client,
    scim_token,
)
from tests.e2e.state_snapshot import changes, snapshot

BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
# A lone high surrogate, escaped as JSON allows it to be written (RFC 8259 §7), though it
# names no character (§8.2). Spliced into the raw body: Python's encoder would refuse it.
LONE = "\\ud800"


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


@pytest.fixture(scope="module")
def user_id(http: httpx.Client) -> str:
    made = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("hard")})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.fixture(scope="module")
def group_id(http: httpx.Client) -> str:
    made = http.post("/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": unique("hg")})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def poisoned(body: Any) -> bytes:
    """``body`` as JSON with every ``@@`` replaced by a lone surrogate escape."""
    return json.dumps(body).replace("@@", LONE).encode()


def patch_body(operation: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": [operation]}


# (name, method, path, body): every way a string reaches storage through SCIM.
WRITE_PATHS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("post-user", "POST", "/Users", {"schemas": [USER_SCHEMA], "userName": "x@@"}),
    (
        "post-user-email",
        "POST",
        "/Users",
        {"schemas": [USER_SCHEMA], "userName": "ok", "emails": [{"value": "a@@@example.com"}]},
    ),
    ("put-user", "PUT", "/Users/{user}", {"schemas": [USER_SCHEMA], "userName": "y@@"}),
    (
        "patch-user-add-path",
        "PATCH",
        "/Users/{user}",
        patch_body({"op": "add", "path": "displayName", "value": "d@@"}),
    ),
    (
        "patch-user-add-no-path",
        "PATCH",
        "/Users/{user}",
        patch_body({"op": "add", "value": {"nickName": "n@@"}}),
    ),
    (
        "patch-user-replace-path",
        "PATCH",
        "/Users/{user}",
        patch_body({"op": "replace", "path": "name.givenName", "value": "g@@"}),
    ),
    (
        "patch-user-replace-no-path",
        "PATCH",
        "/Users/{user}",
        patch_body({"op": "replace", "value": {"title": "t@@"}}),
    ),
    (
        "patch-user-surrogate-in-path",
        "PATCH",
        "/Users/{user}",
        patch_body({"op": "replace", "path": 'emails[value eq "@@"].type', "value": "w"}),
    ),
    (
        "patch-user-surrogate-in-key",
        "PATCH",
        "/Users/{user}",
        patch_body({"op": "add", "value": {"k@@": "v"}}),
    ),
    ("post-group", "POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "g@@"}),
    ("put-group", "PUT", "/Groups/{group}", {"schemas": [GROUP_SCHEMA], "displayName": "h@@"}),
    (
        "patch-group-name",
        "PATCH",
        "/Groups/{group}",
        patch_body({"op": "replace", "path": "displayName", "value": "r@@"}),
    ),
    (
        "patch-group-member",
        "PATCH",
        "/Groups/{group}",
        patch_body({"op": "add", "path": "members", "value": [{"value": "m@@"}]}),
    ),
    (
        "bulk-post",
        "POST",
        "/Bulk",
        {
            "schemas": [BULK_SCHEMA],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "b1",
                    "data": {"schemas": [USER_SCHEMA], "userName": "bulk@@"},
                }
            ],
        },
    ),
    (
        "search",
        "POST",
        "/Users/.search",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName eq "@@"',
        },
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [pytest.param(m, p, b, id=name) for name, m, p, b in WRITE_PATHS],
)
def test_lone_surrogate_is_400_and_nothing_is_stored_rfc7644_3_12(
    server: LiveServer,
    http: httpx.Client,
    user_id: str,
    group_id: str,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    target = path.format(user=user_id, group=group_id)
    watched = [user_id, group_id]
    before = server.call(lambda s: snapshot(s, watched))
    response = http.request(method, target, content=poisoned(body))
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["schemas"] == [ERROR_SCHEMA]
    assert error["scimType"] in ("invalidValue", "invalidSyntax")
    after = server.call(lambda s: snapshot(s, watched))
    assert before == after, changes(before, after)
    # The list and the resources still serve.
    assert http.get("/Users", params={"count": 200}).status_code == 200
    assert http.get(f"/Users/{user_id}").status_code == 200
    assert http.get(f"/Groups/{group_id}").status_code == 200


@pytest.mark.parametrize(
    "literal",
    [LONE, "\\udc00", "a\\ud800b", "\\u0000"],
    ids=["high", "low", "inside", "nul"],
)
def test_filter_literal_with_invalid_unicode_is_invalid_filter_rfc7644_3_4_2_2(
    http: httpx.Client, literal: str
) -> None:
    for resource in ("/Users", "/Groups"):
        response = http.get(resource, params={"filter": f'displayName eq "{literal}"'})
        assert response.status_code == 400, response.text
        assert response.json()["scimType"] == "invalidFilter"


def test_valid_surrogate_pair_is_stored_and_served(http: httpx.Client) -> None:
    """A pair (an astral character) is fine Unicode and must keep working."""
    name = unique("pair") + " \U0001f600"
    body = {"schemas": [USER_SCHEMA], "userName": unique("pair"), "displayName": name}
    made = http.post("/Users", content=json.dumps(body).encode())
    assert made.status_code == 201, made.text
    found = http.get("/Users", params={"filter": f'displayName eq "{name}"'}).json()
    assert [r["displayName"] for r in found["Resources"]] == [name]


@pytest.mark.parametrize(
    "params",
    [
        {"startIndex": str(2**70)},
        {"startIndex": str(2**63)},
        {"count": str(2**70)},
        {"count": str(-(2**70))},
        {"startIndex": "1" * 5000},
        {"startIndex": "1.5"},
        {"count": "5_0"},
    ],
    ids=["start-2**70", "start-2**63", "count-2**70", "count-neg-2**70", "long", "frac", "us"],
)
def test_integer_parameter_out_of_range_is_400_rfc7644_3_4_2_4(
    http: httpx.Client, params: dict[str, str]
) -> None:
    for resource in ("/Users", "/Groups"):
        response = http.get(resource, params=params)
        assert response.status_code == 400, response.text
        assert response.json()["scimType"] == "invalidValue"
    # The same numbers as JSON numbers in a SearchRequest (RFC 7644 §3.4.3).
    numbers = {k: v for k, v in params.items() if v.lstrip("-").isdigit()}
    if numbers:
        raw = "{" + ", ".join(f'"{k}": {v}' for k, v in numbers.items()) + "}"
        response = http.post("/Users/.search", content=raw.encode())
        assert response.status_code == 400, response.text


def test_in_range_paging_values_follow_rfc7644_3_4_2_4(http: httpx.Client) -> None:
    """startIndex below 1 is read as 1, a negative count as 0, a count above maxResults
    gives at most maxResults, and the largest startIndex is an empty page."""
    first = http.get("/Users", params={"startIndex": "-5", "count": "1"}).json()
    assert first["startIndex"] == 1
    assert http.get("/Users", params={"count": "-1"}).json()["itemsPerPage"] == 0
    assert http.get("/Users", params={"count": str(2**62)}).json()["itemsPerPage"] <= 200
    last = http.get("/Users", params={"startIndex": str(2**63 - 1 - 200)})
    assert last.status_code == 200, last.text
    assert last.json()["Resources"] == []


@pytest.mark.parametrize("fail_on", [2**64, 2**70, 0, -1, 1.5, "1"])
def test_bulk_fail_on_errors_out_of_range_is_400_rfc7644_3_7_3(
    http: httpx.Client, fail_on: Any
) -> None:
    body = {
        "schemas": [BULK_SCHEMA],
        "failOnErrors": fail_on,
        "Operations": [{"method": "DELETE", "path": "/Users/nope"}],
    }
    response = http.post("/Bulk", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidValue"


def test_concurrent_creates_with_one_bad_request_all_valid_ones_succeed(
    server: LiveServer,
) -> None:
    """Creates are written in shared batches: a refused request (a lone surrogate, a
    duplicate userName) fails alone, each valid one gets its 201 and is stored."""
    token = scim_token(server)
    taken = unique("dup")
    names = [unique("batch") for _ in range(24)]

    async def run() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": MEDIA}
        async with httpx.AsyncClient(
            base_url=server.base_url + SCIM, headers=headers, timeout=30
        ) as client:
            first = await client.post("/Users", json={"schemas": [USER_SCHEMA], "userName": taken})
            assert first.status_code == 201, first.text

            def body(name: str) -> bytes:
                return json.dumps({"schemas": [USER_SCHEMA], "userName": name}).encode()

            bodies = [body(n) for n in names]
            bodies[7] = poisoned({"schemas": [USER_SCHEMA], "userName": "bad@@"})
            bodies[15] = body(taken.upper())
            return await asyncio.gather(*(client.post("/Users", content=b) for b in bodies))

    answers = asyncio.run(run())
    statuses = [a.status_code for a in answers]
    assert statuses[7] == 400 and statuses[15] == 409, statuses
    valid = [i for i in range(len(names)) if i not in (7, 15)]
    assert all(statuses[i] == 201 for i in valid), statuses

    async def stored(services: Services) -> set[str]:
        async with services.engine.connect() as conn:
            found = await conn.execute(
                select(users.c.username).where(users.c.username.in_([*names, taken.upper()]))
            )
            return {row[0] for row in found}

    assert server.call(stored) == {names[i] for i in valid}


# Values the SCIM model refuses (today or under an older or newer rule), written by
# another door or before a rule changed: (stored resource, primary email, checked attribute).
STORED: list[tuple[str, dict[str, Any], str | None]] = [
    *[
        (address, {"emails": [{"value": address, "type": "work", "primary": True}]}, address)
        for address in ("notanemail", "a@b", "x@localhost", "ctl\x01@example.com")
    ],
    ("odd-type", {"emails": [{"value": "t@example.com", "type": "internet"}]}, "t@example.com"),
    ("bad-uri", {"profileUrl": "::not a uri", "photos": [{"value": "no uri"}]}, None),
    ("wrong-type", {"nickName": 5, "title": ["x"]}, None),
]


def _store(user: str, resource: dict[str, Any], email: str | None) -> Callable[[Services], Any]:
    async def write(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(
                update(scim_users).where(scim_users.c.user_id == user).values(resource=resource)
            )
            if email is not None:
                await conn.execute(update(users).where(users.c.id == user).values(email=email))
                await conn.execute(
                    scim_user_emails.insert(),
                    {"user_id": user, "value_ci": email.lower(), "type": "work", "primary": True},
                )

    return write


@pytest.mark.parametrize(
    ("resource", "email"), [pytest.param(r, e, id=name) for name, r, e in STORED]
)
def test_stored_value_the_model_refuses_still_renders_rfc7644_3_9(
    server: LiveServer, http: httpx.Client, resource: dict[str, Any], email: str | None
) -> None:
    """Served as stored, with and without attributes / excludedAttributes, in a list
    and alone: never re-validated on the way out."""
    made = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("old")})
    assert made.status_code == 201, made.text
    ident = made.json()["id"]
    server.call(_store(ident, resource, email))
    by_id = {"filter": f'id eq "{ident}"'}
    asked = ",".join(resource)
    for params in (
        {},
        {"attributes": asked},
        {"attributes": "emails.value,userName"},
        {"excludedAttributes": asked},
        {"excludedAttributes": "name,groups"},
    ):
        page = http.get("/Users", params={**by_id, **params})
        assert page.status_code == 200, page.text
        [found] = page.json()["Resources"]
        one = http.get(f"/Users/{ident}", params=params)
        assert one.status_code == 200, one.text
        assert one.json() == found
        assert found["id"] == ident
        for key in resource:
            if params.get("excludedAttributes") == asked:
                assert key not in found
            elif params.get("attributes", asked) == asked:
                assert found[key] == resource[key]
    # The whole list, with and without projection, still serves.
    for params in ({}, {"attributes": "userName"}, {"excludedAttributes": "emails"}):
        assert http.get("/Users", params={**params, "count": 200}).status_code == 200


def test_surrogate_stored_before_the_fix_is_served_as_replacement_character(
    server: LiveServer, http: httpx.Client
) -> None:
    """A record poisoned by an older release (only SQLite's JSON text can hold a lone
    surrogate; PostgreSQL's jsonb refuses one) still lists, reads and has an ETag."""
    if not server.settings.database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL cannot store a lone surrogate")
    made = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("poison")})
    assert made.status_code == 201, made.text
    ident = made.json()["id"]
    server.call(_store(ident, {"title": "a\ud800b"}, None))
    one = http.get(f"/Users/{ident}")
    assert one.status_code == 200, one.text
    assert one.json()["title"] == "a\ufffdb"
    assert one.headers["ETag"]
    for params in ({"count": 200}, {"attributes": "title", "filter": f'id eq "{ident}"'}):
        assert http.get("/Users", params=params).status_code == 200


DEEP = b"[" * 100_000 + b"]" * 100_000
PATCH_OP = b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": '
USER_CORE = b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], '
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OR_CHAIN = "userName%20eq%20%22a%22%20or%20" * 400
# (name, method, path, raw body, extra headers): inputs a client controls, each a 4xx.
ODD_REQUESTS: list[tuple[str, str, str, bytes | None, dict[str, str]]] = [
    ("deep-nesting", "POST", "/Users", DEEP, {}),
    ("deep-object", "POST", "/Groups", b'{"a":' * 5000 + b"1" + b"}" * 5000, {}),
    ("nan", "POST", "/Users", b'{"userName": NaN}', {}),
    ("huge-number", "POST", "/Users", b'{"userName": 1e999999}', {}),
    ("not-json", "POST", "/Users", b"\xff\xfe\x00", {}),
    ("form-type", "POST", "/Users", b"userName=x", FORM),
    ("huge-string", "POST", "/Groups", b'{"displayName": "' + b"x" * 900_000 + b'"}', {}),
    ("put-no-username", "PUT", "/Users/{user}", USER_CORE + b'"title": "t"}', {}),
    (
        "bad-patch-path",
        "PATCH",
        "/Users/{user}",
        PATCH_OP + b'[{"op": "replace", "path": "emails[value eq \\"x\\"", "value": 1}]}',
        {},
    ),
    ("patch-urn", "PATCH", "/Users/{user}", PATCH_OP + b'[{"op": "add", "path": "urn:x:y"}]}', {}),
    ("wrong-types", "PUT", "/Groups/{group}", b'{"schemas": 5, "displayName": [1]}', {}),
    (
        "etag-garbage",
        "PUT",
        "/Users/{user}",
        USER_CORE + b'"userName": "e"}',
        {"If-Match": 'W/"' + "9" * 100 + '"'},
    ),
    ("long-id", "GET", "/Users/" + "a" * 5000, None, {}),
    ("long-filter", "GET", "/Users?filter=" + OR_CHAIN + "id%20pr", None, {}),
    ("filter-number", "GET", "/Users?filter=meta.created%20gt%201e400", None, {}),
    ("filter-bigint", "GET", "/Groups?filter=displayName%20eq%20" + "9" * 400, None, {}),
    ("sort-odd", "GET", "/Users?sortBy=urn:x:%FF&sortOrder=up", None, {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [pytest.param(m, p, b, h, id=name) for name, m, p, b, h in ODD_REQUESTS],
)
def test_odd_requests_are_4xx_and_change_nothing_rfc7644_3_12(
    server: LiveServer,
    http: httpx.Client,
    user_id: str,
    group_id: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> None:
    watched = [user_id, group_id]
    before = server.call(lambda s: snapshot(s, watched))
    target = path.format(user=user_id, group=group_id)
    response = http.request(method, target, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text[:500]
    assert response.json()["schemas"] == [ERROR_SCHEMA]
    after = server.call(lambda s: snapshot(s, watched))
    assert before == after, changes(before, after)


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_line_break_in_the_path_is_a_scim_404_rfc7644_3_12(
    http: httpx.Client, resource: str
) -> None:
    """Starlette's mount stops at a line break; the parent's 404 keeps SCIM's shape."""
    response = http.get(f"/{resource}/a%0Ab")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/scim+json")
    assert response.json()["status"] == "404"
