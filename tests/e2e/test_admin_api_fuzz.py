"""Schemathesis against the admin API's OpenAPI document, with a valid admin token:
whatever it sends, positive or negative, the answer is never a 5xx.

The document is built at collection time from the same factory the server mounts (so
each operation is its own test item), and the first test checks that the server serves
exactly that document. Schemathesis' lazy ``from_fixture`` loader would read it from the
live server instead, but it sets ``node._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from ostiary.admin.api import build_fastapi
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from tests.conftest import LiveServer, unique
from tests.e2e.test_admin_api import API, client_token

# Bounded: 45 operations x (15 generated cases + Schemathesis' coverage cases) take about
# 20 s per backend. OSTIARY_FUZZ_EXAMPLES=300 for a long hunt.
MAX_EXAMPLES = int(os.environ.get("OSTIARY_FUZZ_EXAMPLES", "15"))

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


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_api_never_answers_5xx(
    case: schemathesis.Case,
    server: LiveServer,
    admin_headers: dict[str, str],
    targets: dict[str, str],
) -> None:
    # About every other case names real things (chosen by a checksum of the case, so a
    # replayed failure takes the same path).
    params = case.path_parameters or {}
    if params and zlib.crc32(repr((params, case.query, case.body)).encode()) % 2:
        for name in params:
            real = targets.get(name) or targets.get(case.operation.path)
            if real is not None:
                params[name] = real
    case.call_and_validate(
        base_url=server.base_url + API,
        headers=admin_headers,
        checks=[not_a_server_error],
        timeout=10,
    )
