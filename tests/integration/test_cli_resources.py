"""``ostiary resource create | list | show | delete`` (docs/cli.md, docs/resource-indicators.md):
the real executable on SQLite and PostgreSQL. ``--json`` prints one JSON document; a URI
the one rule refuses (RFC 8707 §2), a scope that is no scope token, a duplicate or an
unknown resource exits 1 with the reason on stderr and changes nothing; changes are
audited with actor "cli"."""

from __future__ import annotations

import pytest

from tests.conftest import SECRET_KEY, unique
from tests.e2e.processes import clean_env
from tests.integration.test_cli import failed, ok, one_json_document, ostiary, sql
from tests.integration.test_cli_rbac import cli_events, details_of


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


def test_rfc8707_resource_create_list_show_delete_audited_as_cli(
    env: dict[str, str], database_url: str
) -> None:
    uri = f"https://{unique('orders')}.example.com/api"

    created = one_json_document(
        ostiary(env, "resource", "create", "--uri", uri, "--scope", "orders:read orders:write",
                "--name", "Orders", "--json")
    )  # fmt: skip

    assert created["uri"] == uri and created["name"] == "Orders"
    assert created["scopes"] == ["orders:read", "orders:write"]
    listed = one_json_document(ostiary(env, "resource", "list", "--json"))
    assert created in listed
    assert one_json_document(ostiary(env, "resource", "show", uri, "--json")) == created
    shown = ok(ostiary(env, "resource", "show", uri)).stdout
    assert f"uri: {uri}" in shown and "scopes: orders:read orders:write" in shown
    failed(ostiary(env, "resource", "create", "--uri", uri), "exists already")

    deleted = one_json_document(ostiary(env, "resource", "delete", uri, "--json"))
    assert deleted == {"uri": uri, "deleted": True}
    assert sql(database_url, "SELECT uri FROM resources WHERE uri = :u", u=uri) == []
    failed(ostiary(env, "resource", "show", uri), "no resource")
    failed(ostiary(env, "resource", "delete", uri), "no resource")
    audited = [
        (kind, e["actor"])
        for kind in ("resource.created", "resource.deleted")
        for e in cli_events(database_url, kind)
        if (details_of(e).get("after") or details_of(e).get("before") or {}).get("uri") == uri
    ]
    assert audited == [("resource.created", "cli"), ("resource.deleted", "cli")]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--uri", "https://api.example.com/#part"), "fragment"),  # RFC 8707 §2
        (("--uri", "api.example.com"), "absolute URI"),  # RFC 8707 §2
        (("--uri", "http://api.example.com"), "https"),
        (("--uri", "https://api.example.com", "--scope", 'read "quoted"'), "scope token"),
    ],
)
def test_rfc8707_2_resource_create_refuses_what_no_request_could_name(
    env: dict[str, str], database_url: str, args: tuple[str, ...], reason: str
) -> None:
    before = sql(database_url, "SELECT COUNT(*) AS n FROM resources")

    failed(ostiary(env, "resource", "create", *args), reason)

    assert sql(database_url, "SELECT COUNT(*) AS n FROM resources") == before
