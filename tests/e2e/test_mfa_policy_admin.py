"""The MFA policy flags at every door an operator uses: the admin API (create, PATCH,
read, list; problem details per RFC 9457 for a bad value), the ``ostiary`` command line
(create, update, list, show, with ``--json`` one document on stdout) and SCIM, whose
group writes (RFC 7644 §3.5.1 PUT, §3.5.2 PATCH) never touch the flag. Each change is
audited as the other updates are."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from ostiary.services import Services
from tests.conftest import SECRET_KEY, LiveServer, unique
from tests.e2e.processes import clean_env
from tests.e2e.scim_fixtures import GROUP_SCHEMA, PATCH_SCHEMA, scim_client, scim_token
from tests.e2e.test_admin_api import api_client, client_token
from tests.integration.test_cli import failed, one_json_document, ostiary

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    made = server.call(lambda s: bootstrap(s, unique("root"), secrets.token_urlsafe(16)))
    scope = f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"
    token = client_token(server, made.client_id, made.client_secret, scope)
    with api_client(server, token) as http:
        yield http


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def cli(env: dict[str, str], *args: str) -> Any:
    return one_json_document(ostiary(env, *args, "--json"))


# Audit queries start here: the run's database is shared, and pages are oldest first.
SINCE = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)


def events(admin: httpx.Client, **query: str) -> list[dict[str, Any]]:
    params = {**query, "since": SINCE.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit": "200"}
    return ok(admin.get("/audit", params=params))["items"]  # type: ignore[no-any-return]


def last_event(admin: httpx.Client, type_: str, **match: str) -> dict[str, Any]:
    """The newest event of ``type_`` whose details (or their "after") hold ``match``."""
    found = [
        e
        for e in events(admin, type=type_)
        if all(
            v in (e["details"].get(k), e["details"].get("after", {}).get(k))
            for k, v in match.items()
        )
    ]
    assert found, f"no {type_} event with {match}"
    return found[-1]


def changed(event: dict[str, Any], key: str) -> tuple[Any, Any]:
    return event["details"]["before"][key], event["details"]["after"][key]


# -- admin API ----------------------------------------------------------------------------


def test_admin_api_role_require_mfa_on_create_patch_read_and_list(admin: httpx.Client) -> None:
    name = unique("role")
    assert ok(admin.post("/roles", json={"name": name}), 201)["require_mfa"] is False
    other = unique("role")
    made = ok(admin.post("/roles", json={"name": other, "require_mfa": True}), 201)
    assert made["require_mfa"] is True

    patched = ok(admin.patch(f"/roles/{name}", json={"require_mfa": True}))
    assert patched == {**patched, "name": name, "require_mfa": True, "description": ""}
    assert ok(admin.get(f"/roles/{name}"))["require_mfa"] is True
    event = last_event(admin, "role.updated", name=name)
    assert changed(event, "require_mfa") == (False, True)
    # A member left out stays; a description alone leaves the flag as it was.
    described = ok(admin.patch(f"/roles/{name}", json={"description": "ops"}))
    assert described["require_mfa"] is True and described["description"] == "ops"
    roles = ok(admin.get("/roles", params={"limit": 200}))["items"]
    assert {r["name"]: r["require_mfa"] for r in roles if r["name"] in (name, other)} == {
        name: True,
        other: True,
    }
    assert ok(admin.patch(f"/roles/{name}", json={"require_mfa": False}))["require_mfa"] is False


def test_admin_api_group_require_mfa_on_create_patch_read_and_list(admin: httpx.Client) -> None:
    group = ok(admin.post("/groups", json={"name": unique("grp"), "require_mfa": True}), 201)
    assert group["require_mfa"] is True
    assert ok(admin.get(f"/groups/{group['id']}"))["require_mfa"] is True
    # A rename keeps the flag.
    renamed = ok(admin.patch(f"/groups/{group['id']}", json={"name": unique("grp")}))
    assert renamed["require_mfa"] is True
    off = ok(admin.patch(f"/groups/{group['id']}", json={"require_mfa": False}))
    assert off["require_mfa"] is False
    event = last_event(admin, "group.updated", id=group["id"])
    assert changed(event, "require_mfa") == (True, False)
    listed = ok(admin.get("/groups", params={"limit": 200}))["items"]
    assert [g["require_mfa"] for g in listed if g["id"] == group["id"]] == [False]


def test_admin_api_client_require_mfa_on_create_patch_read_and_list(admin: httpx.Client) -> None:
    body = {"client_name": "mfa", "grant_types": ["client_credentials"], "require_mfa": True}
    client = ok(admin.post("/clients", json=body), 201)
    client_id = client["client_id"]
    assert client["require_mfa"] is True and client["client_secret"]
    assert ok(admin.get(f"/clients/{client_id}"))["require_mfa"] is True

    # The flag alone, then with a registration member: each stays as sent.
    assert (
        ok(admin.patch(f"/clients/{client_id}", json={"require_mfa": False}))["require_mfa"]
        is False
    )
    event = events(admin, type="client.updated", client_id=client_id)[-1]
    assert changed(event, "require_mfa") == (True, False)
    both = ok(admin.patch(f"/clients/{client_id}", json={"require_mfa": True, "scope": "a b"}))
    assert both["require_mfa"] is True and both["scope"] == "a b"
    # Null means the default (off), as for the other flags of a registration.
    assert (
        ok(admin.patch(f"/clients/{client_id}", json={"require_mfa": None}))["require_mfa"] is False
    )
    plain = ok(admin.post("/clients", json={"client_name": "plain"}), 201)
    assert plain["require_mfa"] is False
    listed = ok(admin.get("/clients", params={"limit": 200}))["items"]
    flags = {c["client_id"]: c["require_mfa"] for c in listed}
    assert flags[client_id] is False and flags[plain["client_id"]] is False


def test_admin_api_a_registration_refused_leaves_the_flag_as_it_was(
    admin: httpx.Client,
) -> None:
    """The policy change rides with the registration: a 422 changes neither."""
    client = ok(admin.post("/clients", json={"client_name": "kept"}), 201)
    refused = admin.patch(
        f"/clients/{client['client_id']}",
        json={"require_mfa": True, "redirect_uris": ["http://evil.example/cb"]},
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert ok(admin.get(f"/clients/{client['client_id']}"))["require_mfa"] is False


def test_admin_api_provider_trust_mfa_on_create_patch_read_and_list(admin: httpx.Client) -> None:
    name = unique("idp")
    body = {
        "name": name,
        "issuer": "https://idp.example.com",
        "client_id": "ostiary",
        "trust_mfa": True,
    }
    assert ok(admin.post("/providers", json=body), 201)["trust_mfa"] is True
    assert ok(admin.get(f"/providers/{name}"))["trust_mfa"] is True
    assert ok(admin.patch(f"/providers/{name}", json={"trust_mfa": False}))["trust_mfa"] is False
    event = last_event(admin, "provider.updated", name=name)
    assert changed(event, "trust_mfa") == (True, False)
    # null elsewhere means "unchanged" for a provider.
    kept = ok(admin.patch(f"/providers/{name}", json={"trust_mfa": None, "enabled": True}))
    assert kept["trust_mfa"] is False
    listed = ok(admin.get("/providers"))["items"]
    assert [p["trust_mfa"] for p in listed if p["name"] == name] == [False]
    untrusted = {**body, "name": unique("idp")}
    del untrusted["trust_mfa"]
    assert ok(admin.post("/providers", json=untrusted), 201)["trust_mfa"] is False


@pytest.mark.parametrize("value", ["maybe", 2, [], {"on": True}])
@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "/roles", "require_mfa"),
        ("PATCH", "/roles/{role}", "require_mfa"),
        ("POST", "/groups", "require_mfa"),
        ("PATCH", "/groups/{group}", "require_mfa"),
        ("POST", "/clients", "require_mfa"),
        ("PATCH", "/clients/{client}", "require_mfa"),
        ("POST", "/providers", "trust_mfa"),
        ("PATCH", "/providers/{provider}", "trust_mfa"),
    ],
)
def test_rfc9457_a_flag_that_is_no_boolean_is_a_422_problem(
    admin: httpx.Client, targets: dict[str, str], method: str, path: str, field: str, value: Any
) -> None:
    bodies = {
        "/roles": {"name": unique("role")},
        "/groups": {"name": unique("grp")},
        "/clients": {"client_name": "bad flag"},
        "/providers": {"name": unique("idp"), "issuer": "https://i.example", "client_id": "c"},
    }
    body = {**bodies.get(path, {}), field: value}
    response = admin.request(method, path.format(**targets), json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in response.text


@pytest.fixture(scope="module")
def targets(admin: httpx.Client) -> dict[str, str]:
    """One existing resource of each kind, for the PATCH cases."""
    role = ok(admin.post("/roles", json={"name": unique("role")}), 201)["name"]
    group = ok(admin.post("/groups", json={"name": unique("grp")}), 201)["id"]
    client = ok(admin.post("/clients", json={"client_name": "target"}), 201)["client_id"]
    provider = unique("idp")
    body = {"name": provider, "issuer": "https://idp.example.com", "client_id": "ostiary"}
    ok(admin.post("/providers", json=body), 201)
    return {"role": role, "group": group, "client": client, "provider": provider}


# -- SCIM ---------------------------------------------------------------------------------


def test_rfc7644_3_5_scim_put_and_patch_of_a_group_keep_its_require_mfa(
    server: LiveServer, admin: httpx.Client
) -> None:
    """SCIM groups do not carry the flag: a full replacement (PUT) or a PATCH from an
    identity provider must not turn off a policy the operator set."""
    group = ok(admin.post("/groups", json={"name": unique("grp"), "require_mfa": True}), 201)
    renamed = unique("grp")
    with scim_client(server, scim_token(server)) as scim:
        put = scim.put(
            f"/Groups/{group['id']}",
            json={"schemas": [GROUP_SCHEMA], "displayName": renamed, "members": []},
        )
        assert put.status_code == 200, put.text
        assert "require_mfa" not in put.text
        patch = {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "externalId", "value": "ext-1"}],
        }
        assert scim.patch(f"/Groups/{group['id']}", json=patch).status_code in (200, 204)
    after = ok(admin.get(f"/groups/{group['id']}"))
    assert after["name"] == renamed and after["external_id"] == "ext-1"
    assert after["require_mfa"] is True


# -- command line -------------------------------------------------------------------------


def test_cli_role_create_update_list_and_audit(
    env: dict[str, str], admin: httpx.Client, server: LiveServer
) -> None:
    name = unique("role")
    made = cli(env, "role", "create", name, "--require-mfa")
    assert made["require_mfa"] is True
    updated = cli(env, "role", "update", name, "--no-require-mfa", "--description", "ops")
    assert updated == {**updated, "name": name, "require_mfa": False, "description": "ops"}
    again = cli(env, "role", "update", name, "--require-mfa")
    assert again["require_mfa"] is True and again["description"] == "ops"
    listed = {r["name"]: r for r in cli(env, "role", "list")}
    assert listed[name]["require_mfa"] is True

    mine = [e for e in events(admin, type="role.updated") if e["details"].get("role") == name]
    assert [(e["actor"], e["details"]["after"]) for e in mine] == [
        ("cli", {"require_mfa": False, "description": "ops"}),
        ("cli", {"require_mfa": True}),
    ]
    assert ok(admin.get(f"/roles/{name}"))["require_mfa"] is True


@pytest.mark.parametrize(
    ("kind", "create", "flag", "named"),
    [
        ("group", ["create", "{name}"], "require_mfa", "group"),
        (
            "provider",
            ["add", "--name", "{name}", "--issuer", "https://idp.example.com", "--client-id", "c"],
            "trust_mfa",
            "name",
        ),
    ],
)
def test_cli_group_and_provider_flag_create_update_show_list_and_audit(
    env: dict[str, str], admin: httpx.Client, kind: str, create: list[str], flag: str, named: str
) -> None:
    name, option = unique(kind), "--" + flag.replace("_", "-")
    made = cli(env, kind, *(arg.format(name=name) for arg in create), option)
    assert made[flag] is True
    off = "--no-" + option.removeprefix("--")
    assert cli(env, kind, "update", name, off)[flag] is False
    assert cli(env, kind, "show", name)[flag] is False
    assert [item[flag] for item in cli(env, kind, "list") if item["name"] == name] == [False]
    event = last_event(admin, f"{kind}.updated", **{named: name})
    assert event["actor"] == "cli" and changed(event, flag) == (True, False)


def test_cli_client_create_update_show_list_and_audit(
    env: dict[str, str], admin: httpx.Client
) -> None:
    made = cli(
        env, "client", "create", "--name", "mfa", "--grant-type", "client_credentials",
        "--require-mfa",
    )  # fmt: skip
    client_id = made["client_id"]
    assert made["require_mfa"] is True and made["client_secret"]
    off = cli(env, "client", "update", client_id, "--no-require-mfa")
    assert off["require_mfa"] is False
    both = cli(env, "client", "update", client_id, "--require-mfa", "--scope", "a b")
    assert both["require_mfa"] is True and both["scope"] == "a b"
    assert cli(env, "client", "show", client_id)["require_mfa"] is True
    assert [
        c["require_mfa"] for c in cli(env, "client", "list") if c["client_id"] == client_id
    ] == [True]
    updates = [e["details"] for e in events(admin, type="client.updated", client_id=client_id)]
    assert [(u["before"], u["after"]) for u in updates] == [
        ({"require_mfa": True}, {"require_mfa": False}),
        ({"require_mfa": False, "scope": ""}, {"require_mfa": True, "scope": "a b"}),
    ]
    plain = cli(env, "client", "create", "--name", "p", "--grant-type", "client_credentials")
    assert plain["require_mfa"] is False


def test_cli_nothing_to_change_and_unknown_names_exit_1_with_a_reason(
    env: dict[str, str],
) -> None:
    role = cli(env, "role", "create", unique("role"))["name"]
    group = cli(env, "group", "create", unique("grp"))["name"]
    failed(ostiary(env, "role", "update", role), "nothing to change")
    failed(ostiary(env, "group", "update", group), "nothing to change")
    failed(ostiary(env, "role", "update", unique("none"), "--require-mfa"), "no role")
    failed(ostiary(env, "group", "update", unique("none"), "--require-mfa"), "no group")
    failed(ostiary(env, "client", "update", "no-such-client", "--require-mfa"), "no client")


def test_flags_set_on_the_command_line_decide_mfa_required_by(
    env: dict[str, str], server: LiveServer
) -> None:
    """What the sign-in policy asks: the role through a group, the group through its
    child (the user is in the child only)."""
    role = cli(env, "role", "create", unique("role"), "--require-mfa")["name"]
    parent = cli(env, "group", "create", unique("grp"), "--require-mfa")["name"]
    child = cli(env, "group", "create", unique("grp"))["name"]
    plain = cli(env, "role", "create", unique("role"))["name"]

    async def setup(services: Services) -> str:
        access = services.store.access
        user = await services.store.users.add(
            username=unique("user"), email=None, password_hash=None
        )
        top, below = await access.get_group(parent), await access.get_group(child)
        assert top is not None and below is not None
        await access.nest(below.id, top.id)
        await access.add_member(below.id, user.id)
        await access.grant_group_role(below.id, role)
        await access.assign(user.id, plain)
        return user.id

    user_id = server.call(setup)
    wanted = sorted([f"role:{role}", f"group:{parent}"])
    assert server.call(lambda s: s.store.access.mfa_required_by(user_id)) == wanted
    cli(env, "group", "update", parent, "--no-require-mfa")
    assert server.call(lambda s: s.store.access.mfa_required_by(user_id)) == [f"role:{role}"]
