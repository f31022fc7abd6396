"""Schemathesis against the admin API's OpenAPI document, with a valid admin token:
whatever it sends, positive or negative, the answer is never a 5xx, and a refused write
leaves the account tables' row counts as they were. A Hypothesis test beside it sends
what schemathesis does not generate (lone surrogates, control characters, integers beyond
64 bits, odd email domains) in every body member, query parameter and path parameter the
document names, and after each 4xx compares the rows of the things it targets too.

The document is built at collection time from the same factory the server mounts (so
each operation is its own test item), and the first test checks that the server serves
exactly that document. Schemathesis' lazy ``from_fixture`` loader would read it from the
live server instead, but it sets ``node._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from ostiary.admin.api import build_fastapi
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from tests.conftest import LiveServer, unique
from tests.e2e.awkward_values import AWKWARD, HUGE, ODD_EMAILS, TEXT
from tests.e2e.state_snapshot import Unchanged
from tests.e2e.test_admin_api import API, client_token
from tests.fuzz_profile import examples, fuzz_settings

# Bounded: 50 operations x (5 generated cases + Schemathesis' coverage cases, which are
# most of the run) take about 20 s per backend on an idle two-core machine.
# OSTIARY_FUZZ=long (tests/fuzz_profile) for a long hunt.
MAX_EXAMPLES = examples(ci=5, long=300)

DOCUMENT: dict[str, Any] = build_fastapi().openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def admin_headers(server: LiveServer) -> dict[str, str]:
    made = server.call(lambda services: bootstrap(services, unique("fuzz"), "fuzz " + "x" * 12))
    token = client_token(
        server, made.client_id, made.client_secret, f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"
    )
    return {"Authorization": f"Bearer {token}"}


def test_fuzzed_document_is_the_served_one(server: LiveServer) -> None:
    served = httpx.get(server.base_url + API + "/openapi.json").json()
    # Mounted, FastAPI adds the mount point as the server URL (OpenAPI 3.1 §4.8.5).
    assert served.pop("servers") == [{"url": API}]
    assert served == DOCUMENT


@pytest.fixture(scope="module")
def targets(server: LiveServer, admin_headers: dict[str, str]) -> dict[str, str]:
    """Real ids for path parameters, so fuzzed bodies reach the handlers' logic and not
    only the 404 of an unknown id."""
    with httpx.Client(base_url=server.base_url + API, headers=admin_headers) as http:

        def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.post(path, json=body)
            assert response.status_code == 201, response.text
            return response.json()

        role = made("/roles", {"name": unique("fuzz-role")})["name"]
        return {
            "user_id": made("/users", {"username": unique("fuzz-user")})["id"],
            "client_id": made("/clients", {"client_name": "fuzz"})["client_id"],
            "group_id": made("/groups", {"name": unique("fuzz-group")})["id"],
            "parent_id": made("/groups", {"name": unique("fuzz-parent")})["id"],
            "role": role,
            "/roles/{name}": role,
            "/scopes/{name}": made("/scopes", {"name": unique("fuzz-scope")})["name"],
        }


@pytest.fixture
def counted(server: LiveServer) -> Unchanged:
    """Row counts only: schemathesis sends thousands of cases, and a full comparison
    after each refusal would triple the run; the Hypothesis test below compares rows."""
    return Unchanged(server, (), rows_of=())


@pytest.fixture
def unchanged(server: LiveServer, targets: dict[str, str]) -> Unchanged:
    return Unchanged(server, targets.values())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_api_never_answers_5xx(
    case: schemathesis.Case,
    server: LiveServer,
    admin_headers: dict[str, str],
    targets: dict[str, str],
    counted: Unchanged,
) -> None:
    # About every other case names real things (chosen by a checksum of the case, so a
    # replayed failure takes the same path).
    params = case.path_parameters or {}
    if params and zlib.crc32(repr((params, case.query, case.body)).encode()) % 2:
        for name in params:
            real = targets.get(name) or targets.get(case.operation.path)
            if real is not None:
                params[name] = real

    def send() -> Any:
        return case.call(base_url=server.base_url + API, headers=admin_headers, timeout=10)

    # Reads cannot store anything; only writes pay for the before/after comparison.
    response = send() if case.method.upper() == "GET" else counted(send)
    case.validate_response(response, checks=[not_a_server_error])


def _properties(operation: dict[str, Any]) -> list[str]:
    """The member names of an operation's JSON body schema."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = body.get("schema", {}).get("$ref", "")
    found = DOCUMENT["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return sorted(found.get("properties", {}))


OPERATIONS = sorted(
    (
        method.upper(),
        path,
        _properties(operation),
        [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"],
    )
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
)
# JSON values of every type, the awkward ones first.
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), HUGE, TEXT, ODD_EMAILS, st.floats(allow_nan=False)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(TEXT, AWKWARD), children, max_size=3),
    ),
    max_leaves=6,
)
QUERY_VALUES = st.one_of(TEXT, HUGE.map(str), ODD_EMAILS, st.sampled_from(["", "-1", "0", "1e400"]))


def _encoded(text: str) -> str:
    """Percent-encoded as UTF-8 would, a lone surrogate included (its three bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@fuzz_settings(ci=40)
@given(data=st.data())
def test_awkward_values_in_bodies_queries_and_paths(
    server: LiveServer,
    admin_headers: dict[str, str],
    targets: dict[str, str],
    unchanged: Unchanged,
    data: st.DataObject,
) -> None:
    """No 5xx, and no change after a 4xx, whatever awkward value lands where."""
    method, path, members, query = data.draw(st.sampled_from(OPERATIONS), label="operation")
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        real = targets.get(name) or targets.get(path.rsplit("/{", 1)[0] + "/{name}")
        value = data.draw(st.one_of(st.just(real), TEXT) if real else TEXT, label=name)
        path = path.replace("{" + name + "}", _encoded(value or "x"))
    params = (
        data.draw(st.dictionaries(st.sampled_from(query), QUERY_VALUES), label="query")
        if query
        else {}
    )
    target = server.base_url + API + path
    if params:
        target += "?" + "&".join(f"{k}={_encoded(v)}" for k, v in params.items())
    content = None
    if members:
        body = data.draw(
            st.dictionaries(st.sampled_from(members), VALUES, max_size=4), label="body"
        )
        # ASCII escapes: the only way a lone surrogate reaches the wire.
        content = json.dumps(body).encode()
    headers = {**admin_headers, "Content-Type": "application/json"}
    with httpx.Client(timeout=10) as http:
        response = unchanged(lambda: http.request(method, target, content=content, headers=headers))
    # A line break in the path stops Starlette's Mount pattern (".*"): the parent app's
    # 404 still answers with a problem.
    if response.status_code >= 400:
        problem = response.headers["content-type"].startswith("application/problem+json")
        assert problem, response.text
