"""Bad input gets a SCIM error, never a 500, and a refused request changes nothing:
hypothesis sends arbitrary JSON bodies to POST, PUT and PATCH on Users and Groups, to
Bulk, and arbitrary filters and parameters to GET, on the real server, both databases.

The strategies lean on what broke before: lone surrogates and control characters in
strings and keys, numbers beyond 64 bits, odd email domains, deep nesting. After every
4xx the rows of the users and groups under test, and the row counts of the account
tables, are what they were (``state_snapshot.Unchanged``). Bodies are written with
``json.dumps`` (ASCII escapes), the only way to put a lone surrogate on the wire.

Length: ``tests/fuzz_profile`` (short in CI; ``OSTIARY_FUZZ=long`` for a long hunt).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import LiveServer, unique
from tests.e2e.awkward_values import AWKWARD, HUGE, ODD_EMAILS, TEXT
from tests.e2e.scim_fixtures import (
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    USER_SCHEMA,
    scim_client,
    scim_token,
)
from tests.e2e.state_snapshot import Unchanged
from tests.fuzz_profile import fuzz_settings

SETTINGS = fuzz_settings(ci=25)
BULK_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

KEYS = st.one_of(
    st.sampled_from(
        [
            "userName",
            "name",
            "emails",
            "value",
            "active",
            "externalId",
            "members",
            "displayName",
            "op",
            "path",
            "Operations",
            "schemas",
            "password",
            ENTERPRISE,
            "manager",
            "type",
            "primary",
            "givenName",
            "phoneNumbers",
            "title",
            "method",
            "bulkId",
            "data",
            "version",
        ]
    ),
    AWKWARD,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    HUGE,
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(
        [
            USER_SCHEMA,
            GROUP_SCHEMA,
            PATCH_SCHEMA,
            "add",
            "Replace",
            "remove",
            "False",
            'x[y eq "z"]',
            'emails[type eq "work"].value',
            'members[value eq "\ud800"]',
            "members",
            "/Users",
            "bulkId:a",
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
# Well-shaped bodies whose strings are awkward: they pass the shape checks and reach
# the deeper rules, the batch writer and the database.
USER_BODY = st.fixed_dictionaries(
    {"schemas": st.just([USER_SCHEMA]), "userName": TEXT},
    optional={
        "displayName": TEXT,
        "externalId": TEXT,
        "title": TEXT,
        "active": st.booleans(),
        "name": st.fixed_dictionaries({}, optional={"givenName": TEXT, "familyName": TEXT}),
        "emails": st.lists(
            st.fixed_dictionaries(
                {"value": st.one_of(ODD_EMAILS, TEXT)},
                optional={
                    "type": st.sampled_from(["work", "home", "other"]),
                    "primary": st.booleans(),
                },
            ),
            max_size=2,
        ),
        ENTERPRISE: st.fixed_dictionaries({}, optional={"employeeNumber": TEXT, "manager": TEXT}),
    },
)
GROUP_BODY = st.fixed_dictionaries(
    {"schemas": st.just([GROUP_SCHEMA]), "displayName": TEXT},
    optional={
        "externalId": TEXT,
        "members": st.lists(st.fixed_dictionaries({"value": TEXT}), max_size=2),
    },
)
OPERATION = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace", "remove", "Add"]),
            "value": st.one_of(TEXT, JSON),
        },
        optional={
            "path": st.one_of(
                TEXT,
                st.sampled_from(
                    [
                        "displayName",
                        "name.givenName",
                        "emails",
                        'emails[type eq "work"].value',
                        "members",
                        f"{ENTERPRISE}:manager",
                        "userName",
                        "active",
                        "externalId",
                        "title",
                    ]
                ),
            )
        },
    ),
)


# What an HTTP client can send as a header value (RFC 9110 §5.5): visible ASCII, inner
# spaces; plus the shapes of real and broken entity tags.
ETAGS = st.one_of(
    st.none(),
    st.from_regex(r"[!-~]([ -~]{0,28}[!-~])?", fullmatch=True),
    st.sampled_from(["*", 'W/"1-abc"', '"x"', 'W/"', ",,,", 'W/"1-x", *', 'W/"' + "9" * 40 + '"']),
)


def wire(body: Any) -> bytes:
    """ASCII JSON: lone surrogates become ``\\udXXX`` escapes rather than failing here."""
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with scim_client(server, scim_token(server)) as client:
        yield client


@pytest.fixture(scope="module")
def user_id(http: httpx.Client) -> str:
    created = http.post("/Users", json={"schemas": [USER_SCHEMA], "userName": unique("fz")})
    assert created.status_code == 201
    return str(created.json()["id"])


@pytest.fixture(scope="module")
def group_id(http: httpx.Client, user_id: str) -> str:
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": unique("fzg"),
        "members": [{"value": user_id}],
    }
    created = http.post("/Groups", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture
def unchanged(server: LiveServer, user_id: str, group_id: str) -> Unchanged:
    return Unchanged(server, [user_id, group_id])


def assert_scim_error(response: httpx.Response) -> None:
    if response.status_code >= 400:
        what = (response.request.method, str(response.request.url), response.status_code)
        assert response.headers.get("content-type", "").startswith("application/scim+json"), (
            what,
            response.text,
        )
        assert response.json()["schemas"] == [ERROR_SCHEMA], (what, response.text)


@SETTINGS
@given(body=st.one_of(JSON, USER_BODY, GROUP_BODY))
def test_post_any_body(http: httpx.Client, unchanged: Unchanged, body: Any) -> None:
    for resource in ("/Users", "/Groups"):
        response = unchanged(lambda r=resource: http.post(r, content=wire(body)))
        assert_scim_error(response)
        if response.status_code == 201:
            http.delete(f"{resource}/{response.json()['id']}")


@SETTINGS
@given(operations=st.lists(OPERATION, max_size=3))
def test_patch_any_operations(
    http: httpx.Client, unchanged: Unchanged, user_id: str, group_id: str, operations: list[Any]
) -> None:
    body = {"schemas": [PATCH_SCHEMA], "Operations": operations}
    for target in (f"/Users/{user_id}", f"/Groups/{group_id}"):
        assert_scim_error(unchanged(lambda t=target: http.patch(t, content=wire(body))))


@SETTINGS
@given(body=st.one_of(JSON, USER_BODY, GROUP_BODY), etag=ETAGS)
def test_put_any_body(
    http: httpx.Client,
    unchanged: Unchanged,
    user_id: str,
    group_id: str,
    body: Any,
    etag: str | None,
) -> None:
    headers = {"If-Match": etag} if etag is not None else {}
    for target in (f"/Users/{user_id}", f"/Groups/{group_id}"):
        response = unchanged(lambda t=target: http.put(t, content=wire(body), headers=headers))
        assert_scim_error(response)


@SETTINGS
@given(
    operations=st.lists(
        st.one_of(
            JSON,
            st.fixed_dictionaries(
                {
                    "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
                    "path": st.one_of(TEXT, st.sampled_from(["/Users", "/Groups", "/Users/x"])),
                },
                optional={
                    "bulkId": TEXT,
                    "data": st.one_of(JSON, USER_BODY, GROUP_BODY),
                    "version": TEXT,
                },
            ),
        ),
        max_size=3,
    ),
    fail_on=st.one_of(st.none(), HUGE, TEXT),
)
def test_bulk_any_operations(
    http: httpx.Client, unchanged: Unchanged, operations: list[Any], fail_on: Any
) -> None:
    """RFC 7644 §3.7: a refused request changes nothing; an accepted one answers each
    operation with its own status, never a 5xx."""
    body: dict[str, Any] = {"schemas": [BULK_SCHEMA], "Operations": operations}
    if fail_on is not None:
        body["failOnErrors"] = fail_on
    response = unchanged(lambda: http.post("/Bulk", content=wire(body)))
    assert_scim_error(response)
    if response.status_code == 200:
        for result in response.json()["Operations"]:
            assert int(result["status"]) < 500, result


PARAMETERS = st.sampled_from(
    ["filter", "sortBy", "sortOrder", "startIndex", "count", "attributes", "excludedAttributes"]
)
PARAMETER_VALUES = st.one_of(
    st.text(max_size=30),
    AWKWARD,
    HUGE.map(str),
    st.sampled_from(
        [
            'userName eq "\\ud800"',
            'displayName co "\\udc00x"',
            'emails[value ew "@b"]',
            'meta.created gt "2024-01-01T00:00:00Z"',
            "name.givenName pr",
            'userName eq "a" and not (active eq true)',
            "emails.value",
            f"{ENTERPRISE}:manager",
        ]
    ),
)


@SETTINGS
@given(params=st.dictionaries(PARAMETERS, PARAMETER_VALUES, max_size=4))
def test_get_any_parameters(
    http: httpx.Client, unchanged: Unchanged, params: dict[str, str]
) -> None:
    # Percent-encoded by hand: a lone surrogate goes out as the bytes UTF-8 would give it.
    query = "&".join(
        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in params.items()
    )
    for resource in ("/Users", "/Groups"):
        assert_scim_error(unchanged(lambda r=resource: http.get(f"{r}?{query}")))
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], **params}
    assert_scim_error(unchanged(lambda: http.post("/Users/.search", content=wire(search))))


@SETTINGS
@given(
    ident=st.one_of(st.text(max_size=40), AWKWARD, st.sampled_from(["..", "%2F", " ", "a" * 2000])),
    etag=ETAGS,
)
def test_any_id_and_etag(
    http: httpx.Client, unchanged: Unchanged, ident: str, etag: str | None
) -> None:
    """Unknown ids of odd shapes and any If-Match / If-None-Match: 4xx, nothing changed."""
    path = quote(ident.encode("utf-8", "surrogatepass"), safe="")
    headers = {"If-Match": etag, "If-None-Match": etag} if etag is not None else {}
    for resource in ("Users", "Groups"):
        target = f"/{resource}/{path}"
        assert_scim_error(unchanged(lambda t=target: http.get(t, headers=headers)))
        assert_scim_error(unchanged(lambda t=target: http.delete(t, headers=headers)))
