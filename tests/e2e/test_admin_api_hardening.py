"""The admin API never stores what it cannot serve back: a JSON body holding a lone
surrogate (``"\\ud800"``, RFC 8259 §8.2) or a NUL is an RFC 9457 problem 400 on every
operation that takes a body, and nothing is stored or changed. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ostiary.admin.api import build_fastapi
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from tests.conftest import LiveServer, unique
from tests.e2e.state_snapshot import changes, snapshot
from tests.e2e.test_admin_api import API, client_token

DOCUMENT: dict[str, Any] = build_fastapi().openapi()
# Every operation with a JSON request body, from the document the server serves.
WITH_BODY = sorted(
    (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if "application/json" in operation.get("requestBody", {}).get("content", {})
)
ESCAPES = {
    "high": "\\ud800",
    "low": "\\udfff",
    "reversed-pair": "\\ude00\\ud83d",
    "nul": "\\u0000",
}


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    made = server.call(lambda services: bootstrap(services, unique("hard"), "hard " + "x" * 12))
    token = client_token(
        server, made.client_id, made.client_secret, f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"
    )
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url + API, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def targets(http: httpx.Client) -> dict[str, str]:
    """Real things for path parameters, so each request reaches a handler that would
    write."""

    def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(path, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    role = made("/roles", {"name": unique("hard-role")})["name"]
    return {
        "user_id": made("/users", {"username": unique("hard-user")})["id"],
        "client_id": made("/clients", {"client_name": "hard"})["client_id"],
        "group_id": made("/groups", {"name": unique("hard-group")})["id"],
        "parent_id": made("/groups", {"name": unique("hard-parent")})["id"],
        "role": role,
        "name": role,
    }


def _fill(path: str, targets: dict[str, str]) -> str:
    for name, value in targets.items():
        path = path.replace("{" + name + "}", value)
    return path


def test_every_operation_with_a_body_is_covered() -> None:
    assert len(WITH_BODY) >= 10, WITH_BODY


@pytest.mark.parametrize("escape", list(ESCAPES.values()), ids=list(ESCAPES))
@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_invalid_unicode_in_a_body_is_problem_400_and_nothing_changes_rfc9457(
    server: LiveServer,
    http: httpx.Client,
    targets: dict[str, str],
    method: str,
    path: str,
    escape: str,
) -> None:
    # Every string member the schemas know, each holding the escape; spliced into the
    # raw text, as Python's encoder would refuse to write a lone surrogate.
    value = f"x{escape}y"
    body = {
        key: value
        for key in ("username", "name", "client_name", "email", "description", "display_name")
    }
    raw = json.dumps(body).replace(json.dumps(value)[1:-1], value).encode()
    watched = list(targets.values())
    before = server.call(lambda s: snapshot(s, watched))
    response = http.request(
        method, _fill(path, targets), content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["type"] == "about:blank"
    after = server.call(lambda s: snapshot(s, watched))
    assert before == after, changes(before, after)


def test_valid_json_reaches_the_handlers_unchanged(http: httpx.Client) -> None:
    """The check replays the body: a valid one, in several chunks, still works, and
    JSON that is not JSON at all keeps FastAPI's 422."""
    name = unique("chunk")

    def chunks() -> Iterator[bytes]:
        text = json.dumps({"username": name, "email": f"{name}@example.com"}).encode()
        for start in range(0, len(text), 7):
            yield text[start : start + 7]

    made = http.post("/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert made.status_code == 201, made.text
    assert made.json()["username"] == name
    broken = http.post("/users", content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422, broken.text


def test_line_break_in_the_path_is_a_problem_404_rfc9457(http: httpx.Client) -> None:
    """Starlette's mount stops at a line break; the parent's 404 is still a problem."""
    response = http.get("/users/a%0Ab")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404
