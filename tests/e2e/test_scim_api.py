"""Each RFC 7644 operation against the real server, on SQLite and PostgreSQL: create,
read, list and filter, search, replace, patch, delete, ETags, uniqueness, errors, auth,
and the effect on access (deactivation revokes live tokens; groups feed roles)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    make_client,
    make_user,
    obtain_code,
    redeem_code,
)
from tests.e2e.scim_fixtures import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    MEDIA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    scim_client,
    scim_token,
)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


def new_user(http: httpx.Client, **extra: Any) -> dict[str, Any]:
    name = extra.pop("userName", unique("user"))
    body = {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "name": {"givenName": "Barbara", "familyName": unique("Jensen")},
        "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
        **extra,
    }
    response = http.post("/Users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type


def patch_ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def test_rfc7644_3_3_create_returns_201_location_etag(http: httpx.Client) -> None:
    response = http.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": unique("u"), "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["content-type"].startswith(MEDIA)
    assert response.headers["location"] == body["meta"]["location"]
    assert response.headers["etag"] == body["meta"]["version"]
    assert "password" not in body  # RFC 7643 §4.1.1: returned "never"


def test_rfc7644_3_3_uniqueness_is_409_case_insensitive(http: httpx.Client) -> None:
    user = new_user(http)
    again = http.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": user["userName"].upper()}
    )
    assert_error(again, 409, "uniqueness")


def test_rfc7644_3_4_1_get_and_404(http: httpx.Client) -> None:
    user = new_user(http)
    got = http.get(f"/Users/{user['id']}")
    assert got.status_code == 200 and got.json()["userName"] == user["userName"]
    assert_error(http.get("/Users/no-such-id"), 404)


def test_rfc7644_3_4_2_filters_sort_and_pages(http: httpx.Client) -> None:
    family = unique("Fam")
    made = [new_user(http, name={"givenName": f"G{i}", "familyName": family}) for i in range(5)]
    params = {"filter": f'name.familyName eq "{family.lower()}"', "sortBy": "userName"}
    everything = http.get("/Users", params=params).json()
    assert everything["totalResults"] == 5
    names = [r["userName"] for r in everything["Resources"]]
    assert names == sorted(u["userName"] for u in made)
    page = http.get("/Users", params={**params, "startIndex": 2, "count": 2}).json()
    assert page["startIndex"] == 2 and page["itemsPerPage"] == 2 and page["totalResults"] == 5
    assert [r["userName"] for r in page["Resources"]] == names[1:3]
    down = http.get("/Users", params={**params, "sortOrder": "descending"}).json()
    assert [r["userName"] for r in down["Resources"]] == names[::-1]
    by_email = http.get("/Users", params={**params, "sortBy": "emails"}).json()
    assert [r["userName"] for r in by_email["Resources"]] == names  # primary email = name@
    assert_error(http.get("/Users", params={**params, "sortBy": "title"}), 400, "invalidValue")
    counted = http.get("/Users", params={**params, "count": 0}).json()
    assert counted["totalResults"] == 5 and counted["Resources"] == []


@pytest.mark.parametrize(
    "template",
    [
        'userName eq "{name}"',
        'USERNAME Eq "{upper}"',
        'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "{name}"',
        'emails[type eq "work" and value co "{name}@"]',
        'emails.value sw "{name}"',
        'not (userName ne "{name}")',
        '(userName eq "{name}" or userName eq "x") and active eq true',
        'externalId eq "{name}-ext" and meta.created gt "2001-01-01T00:00:00Z"',
    ],
)
def test_rfc7644_3_4_2_2_filter_grammar(http: httpx.Client, template: str) -> None:
    user = new_user(http, externalId="pending")
    name = user["userName"]
    http.patch(
        f"/Users/{user['id']}",
        json=patch_ops({"op": "replace", "path": "externalId", "value": f"{name}-ext"}),
    ).raise_for_status()
    found = http.get("/Users", params={"filter": template.format(name=name, upper=name.upper())})
    assert found.status_code == 200, found.text
    assert [r["id"] for r in found.json()["Resources"]] == [user["id"]]


@pytest.mark.parametrize(
    "bad",
    [
        "userName eq",
        'userName zz "x"',
        'title eq "not stored in a column"',
        "active gt true",
        'emails[type eq "work"',
        'meta.created gt "yesterday"',
        'urn:example:other:userName eq "x"',
    ],
)
def test_rfc7644_3_4_2_2_bad_filter_is_400_invalid_filter(http: httpx.Client, bad: str) -> None:
    assert_error(http.get("/Users", params={"filter": bad}), 400, "invalidFilter")


def test_rfc7644_3_4_3_search_with_post(http: httpx.Client) -> None:
    user = new_user(http)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f'userName eq "{user["userName"]}"',
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    found = http.post("/Users/.search", json=body).json()
    assert found["totalResults"] == 1
    resource = found["Resources"][0]
    assert resource["userName"] == user["userName"] and "emails" not in resource
    assert resource["id"] == user["id"]  # RFC 7643 §7: id is returned "always"


def test_rfc7644_3_9_attributes_and_excluded_attributes(http: httpx.Client) -> None:
    user = new_user(http)
    only = http.get(f"/Users/{user['id']}", params={"attributes": "emails.value"}).json()
    assert only["emails"] == [{"value": user["emails"][0]["value"]}] and "name" not in only
    without = http.get(f"/Users/{user['id']}", params={"excludedAttributes": "emails"}).json()
    assert "emails" not in without and without["name"] == user["name"]


def test_rfc7644_3_5_1_put_replaces(http: httpx.Client) -> None:
    user = new_user(http)
    body = {"schemas": [USER_SCHEMA], "userName": user["userName"], "title": "Boss"}
    replaced = http.put(f"/Users/{user['id']}", json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["title"] == "Boss" and "emails" not in replaced.json()


def test_rfc7644_3_14_etags(http: httpx.Client) -> None:
    user = new_user(http)
    url, etag = f"/Users/{user['id']}", user["meta"]["version"]
    assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert http.get(url, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    change = patch_ops({"op": "replace", "path": "title", "value": "Dr"})
    changed = http.patch(url, json=change, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    stale = http.patch(url, json=change, headers={"If-Match": etag})
    assert_error(stale, 412)
    assert_error(http.delete(url, headers={"If-Match": etag}), 412)
    assert http.delete(url, headers={"If-Match": changed.headers["etag"]}).status_code == 204


def test_rfc7644_3_5_2_patch_errors(http: httpx.Client) -> None:
    user = new_user(http)
    url = f"/Users/{user['id']}"
    assert_error(http.patch(url, json={"schemas": [PATCH_SCHEMA]}), 400, "invalidSyntax")
    bad_path = patch_ops({"op": "replace", "path": "nosuch", "value": 1})
    assert_error(http.patch(url, json=bad_path), 400, "invalidPath")
    assert_error(http.patch(url, content=b"{not json"), 400, "invalidSyntax")


def test_rfc7644_3_6_delete_then_404(http: httpx.Client) -> None:
    user = new_user(http)
    assert http.delete(f"/Users/{user['id']}").status_code == 204
    assert_error(http.get(f"/Users/{user['id']}"), 404)


def test_rfc7644_3_11_me_is_501_and_discovery(http: httpx.Client) -> None:
    assert_error(http.get("/Me"), 501)
    assert_error(http.get("/Users/a/b"), 404)
    assert_error(http.get("/Widgets"), 404)
    assert_error(http.post("/Users/some-id", json={}), 405)
    assert_error(http.put("/ServiceProviderConfig", json={}), 405)
    config = http.get("/ServiceProviderConfig").json()
    assert config["patch"]["supported"] and config["bulk"]["supported"]
    assert config["etag"]["supported"] and config["filter"]["supported"]
    types = http.get("/ResourceTypes").json()
    assert {r["name"] for r in types["Resources"]} == {"User", "Group"}
    schemas = http.get("/Schemas").json()
    assert len(schemas["Resources"]) == 3


def test_rfc6750_auth_is_required(server: LiveServer) -> None:
    with scim_client(server, None) as anonymous:
        response = anonymous.get("/Users")
        assert_error(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    with scim_client(server, "not-a-token") as forged:
        assert_error(forged.get("/Users"), 401)
    with scim_client(server, scim_token(server, scope="read")) as other:
        assert_error(other.get("/Users"), 403)


def test_a_user_token_with_the_scim_scope_is_refused(server: LiveServer) -> None:
    """Only a provisioning client reaches /scim/v2, never a person's token."""
    client = make_client(server, scopes=["read", "scim"])
    _, tokens = _tokens(server, make_user(server), client=client, scope="read scim")
    assert "scim" in tokens["scope"].split()
    with scim_client(server, tokens["access_token"]) as as_user:
        assert_error(as_user.get("/Users"), 403)


def test_groups_members_feed_rbac(server: LiveServer, http: httpx.Client) -> None:
    user, other = new_user(http), new_user(http)
    role = unique("role")
    group = http.post(
        "/Groups",
        json={
            "schemas": [GROUP_SCHEMA],
            "displayName": unique("Eng"),
            "members": [{"value": user["id"]}],
        },
    ).json()

    async def grant(services: Services) -> list[str]:
        await services.store.access.create_role(role)
        await services.store.access.grant_group_role(group["id"], role)
        return sorted((await services.store.access.effective(other["id"])).roles)

    assert role not in server.call(grant)
    add = patch_ops({"op": "add", "path": "members", "value": [{"value": other["id"]}]})
    # RFC 7644 §3.5.2: a membership PATCH may answer 204 (what Entra ID and Okta expect).
    assert http.patch(f"/Groups/{group['id']}", json=add).status_code == 204

    async def roles(services: Services) -> frozenset[str]:
        return frozenset((await services.store.access.effective(other["id"])).roles)

    assert role in server.call(roles)
    found = http.get("/Groups", params={"filter": f'members[value eq "{other["id"]}"]'}).json()
    assert [g["id"] for g in found["Resources"]] == [group["id"]]
    remove = patch_ops({"op": "remove", "path": f'members[value eq "{other["id"]}"]'})
    assert http.patch(f"/Groups/{group['id']}", json=remove).status_code == 204
    assert role not in server.call(roles)
    duplicate = http.post(
        "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": group["displayName"]}
    )
    assert_error(duplicate, 409, "uniqueness")
    unknown = {
        "schemas": [GROUP_SCHEMA],
        "displayName": unique("g"),
        "members": [{"value": "nobody"}],
    }
    assert_error(http.post("/Groups", json=unknown), 400, "invalidValue")


def _tokens(
    server: LiveServer,
    username: str,
    client: RegisteredClient | None = None,
    scope: str = "read offline_access",
) -> tuple[RegisteredClient, dict[str, Any]]:
    client = client or make_client(server, scopes=["read", "offline_access"])
    code, verifier, params = obtain_code(server, client, username, scope=scope)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = redeem_code(http, client, code, verifier, params)
    assert response.status_code == 200, response.text
    return client, response.json()


@pytest.mark.parametrize("how", ["patch-active-false", "delete"])
def test_deactivation_revokes_live_tokens_at_once(
    server: LiveServer, http: httpx.Client, how: str
) -> None:
    """A SCIM user with a password signs in; active=false / DELETE kills its tokens."""
    user = new_user(http, password=PASSWORD)
    client, tokens = _tokens(server, user["userName"])
    assert "refresh_token" in tokens

    def introspect() -> bool:
        response = httpx.post(
            server.base_url + "/introspect",
            data={"token": tokens["access_token"]},
            auth=client.basic_auth(),
        )
        return bool(response.json()["active"])

    assert introspect()
    if how == "delete":
        assert http.delete(f"/Users/{user['id']}").status_code == 204
    else:
        deactivate = patch_ops({"op": "Replace", "path": "active", "value": "False"})
        assert http.patch(f"/Users/{user['id']}", json=deactivate).json()["active"] is False
    assert not introspect()
    refreshed = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=client.basic_auth(),
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
