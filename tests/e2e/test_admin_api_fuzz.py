"""Schemathesis against the admin API's OpenAPI document, with a valid admin token:
whatever it sends, positive or negative, the answer is never a 5xx.

The document is built at collection time from the same factory the server mounts (so
each operation is its own test item), and the first test checks that the server serves
exactly that document. Schemathesis' lazy ``from_fixture`` loader would read it from the
live server instead, but it sets ``node._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

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

# Bounded: about 45 operations x 10 examples keeps each backend well under 40 s.
MAX_EXAMPLES = 10

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


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_api_never_answers_5xx(
    case: schemathesis.Case, server: LiveServer, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        base_url=server.base_url + API,
        headers=admin_headers,
        checks=[not_a_server_error],
        timeout=10,
    )
