"""Bad input gets a SCIM error, never a 500: hypothesis sends arbitrary JSON bodies to
POST, PUT and PATCH, and arbitrary filters and parameters to GET, on the real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer, unique
from tests.e2e.scim_fixtures import ERROR_SCHEMA, PATCH_SCHEMA, USER_SCHEMA, scim_client, scim_token

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
KEYS = st.sampled_from(
    [
        "userName",
        "name",
        "emails",
        "active",
        "externalId",
        "members",
        "displayName",
        "op",
        "path",
        "value",
        "Operations",
        "schemas",
        "password",
        "x",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "manager",
        "type",
        "primary",
        "givenName",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            USER_SCHEMA,
            PATCH_SCHEMA,
            "add",
            "Replace",
            "remove",
            "False",
            'x[y eq "z"]',
            'emails[type eq "work"].value',
            "members",
        ]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


@pytest.fixture(scope="module")
def user_id(http: httpx.Client) -> str:
    created = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("fz")})
    assert created.status_code == 201
    return created.json()["id"]


def assert_not_500(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["schemas"] == [ERROR_SCHEMA]


@SETTINGS
@given(body=JSON)
def test_post_any_body(http: httpx.Client, body: Any) -> None:
    response = http.post("/Users", json=body)
    assert_not_500(response)
    if response.status_code == 201:
        http.delete(f"/Users/{response.json()['id']}")


@SETTINGS
@given(operations=st.lists(JSON, max_size=3))
def test_patch_any_operations(http: httpx.Client, user_id: str, operations: list[Any]) -> None:
    body = {"schemas": [PATCH_SCHEMA], "Operations": operations}
    assert_not_500(http.patch(f"/Users/{user_id}", json=body))


@SETTINGS
@given(body=JSON)
def test_put_any_body(http: httpx.Client, user_id: str, body: Any) -> None:
    response = http.put(f"/Users/{user_id}", json=body)
    assert_not_500(response)


@SETTINGS
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "filter",
                "sortBy",
                "sortOrder",
                "startIndex",
                "count",
                "attributes",
                "excludedAttributes",
            ]
        ),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_get_any_parameters(http: httpx.Client, params: dict[str, str]) -> None:
    assert_not_500(http.get("/Users", params=params))
    assert_not_500(http.get("/Groups", params=params))
