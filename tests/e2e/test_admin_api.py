"""The admin REST API against a real server: bootstrap, a client-credentials
token, then every resource. Errors are RFC 9457 problem details; authentication and
scope failures follow RFC 6750 §3."""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ostiary.accounts.throttle import account_key
from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    browser,
    login_and_consent,
    login_page,
    make_client,
    make_user,
    obtain_code,
    pkce_pair,
    query_of,
)

API = "/admin/api/v1"
BOTH_SCOPES = f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"


@dataclass
class Admin:
    http: httpx.Client
    client_id: str
    secret: str
    # Every secret this module handles, to prove none reaches the audit log.
    secrets_seen: list[str]


def client_token(server: LiveServer, client_id: str, secret: str, scope: str) -> str:
    response = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def api_client(server: LiveServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.base_url + API, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[Admin]:
    boot_password = "bootstrap " + secrets.token_urlsafe(12)
    made = server.call(lambda services: bootstrap(services, unique("root"), boot_password))
    token = client_token(server, made.client_id, made.client_secret, BOTH_SCOPES)
    with api_client(server, token) as http:
        yield Admin(http, made.client_id, made.client_secret, [boot_password, made.client_secret])


@pytest.fixture(scope="module")
def reader(server: LiveServer) -> Iterator[httpx.Client]:
    """A second client registered with the read-only admin scope alone."""
    client = make_client(
        server, redirect_uris=[], grant_types=["client_credentials"], scopes=[ADMIN_READ_SCOPE]
    )
    assert client.secret is not None
    with api_client(
        server, client_token(server, client.client_id, client.secret, ADMIN_READ_SCOPE)
    ) as http:
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """RFC 9457 §3: a problem+json body with type, title, status and detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def create_user(admin: Admin, **extra: Any) -> dict[str, Any]:
    body = {"username": unique("api-user"), **extra}
    return ok(admin.http.post("/users", json=body), 201)


def user_id_of(server: LiveServer, username: str) -> str:
    async def find(services: Services) -> str:
        user = await services.store.users.by_username(username)
        assert user is not None
        return user.id

    return server.call(find)


def exchange(http: httpx.Client, client: RegisteredClient, code: str, verifier: str) -> Any:
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri or "",
            "code_verifier": verifier,
        },
        auth=client.basic_auth(),
    )
    return ok(response)


def refresh(http: httpx.Client, client: RegisteredClient, token: str) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=client.basic_auth(),
    )


def introspect(http: httpx.Client, client: RegisteredClient, token: str) -> Any:
    return ok(http.post("/introspect", data={"token": token}, auth=client.basic_auth()))


def all_pages(http: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ok(http.get(path, params={**params, **({"cursor": cursor} if cursor else {})}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


# -- the document and authentication ---------------------------------------------------


def test_openapi_document_is_served_at_the_mount_point(server: LiveServer) -> None:
    with api_client(server, None) as http:
        doc = ok(http.get("/openapi.json"))
    assert doc["openapi"].startswith("3.")
    assert {"/users", "/clients", "/roles", "/groups", "/scopes", "/audit"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    errors = doc["paths"]["/users"]["post"]["responses"]
    assert "application/problem+json" in errors["422"]["content"]


def test_rfc6750_3_1_no_token_is_401_with_bare_challenge_and_rfc9457_body(
    server: LiveServer,
) -> None:
    with api_client(server, None) as http:
        for response in (http.get("/users"), http.post("/roles", json={"name": "x"})):
            problem(response, 401)
            # §3.1: no error code when the request carried no authentication at all.
            assert response.headers["www-authenticate"] == 'Bearer realm="ostiary-admin"'
        # Unauthenticated callers cannot even tell which routes exist.
        problem(http.get("/no-such-route"), 401)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_rfc6750_3_1_bad_token_is_401_invalid_token(server: LiveServer, authorization: str) -> None:
    with httpx.Client(base_url=server.base_url + API) as http:
        response = http.get("/users", headers={"Authorization": authorization})
    body = problem(response, 401)
    assert body["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="ostiary-admin", ')
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_rfc6750_3_1_tampered_signature_is_401(server: LiveServer, admin: Admin) -> None:
    token = admin.http.headers["authorization"].split(" ", 1)[1]
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    with api_client(server, forged) as http:
        assert problem(http.get("/users"), 401)["error"] == "invalid_token"


def test_rfc6750_3_1_read_scope_reads_but_mutation_is_403_insufficient_scope(
    reader: httpx.Client,
) -> None:
    assert ok(reader.get("/users"))["items"]
    response = reader.post("/roles", json={"name": unique("role")})
    body = problem(response, 403)
    assert body["error"] == "insufficient_scope"
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{ADMIN_SCOPE}"' in challenge
    problem(reader.delete("/users/anyone"), 403)


def test_rfc6750_3_1_token_without_admin_scope_is_403_even_for_reads(server: LiveServer) -> None:
    client = make_client(server, redirect_uris=[], grant_types=["client_credentials"])
    assert client.secret is not None
    with api_client(server, client_token(server, client.client_id, client.secret, "read")) as http:
        response = http.get("/users")
    problem(response, 403)
    assert f'scope="{ADMIN_READ_SCOPE}"' in response.headers["www-authenticate"]


def test_rfc7009_revoked_token_and_deleted_client_are_refused(
    server: LiveServer, admin: Admin
) -> None:
    created = ok(
        admin.http.post(
            "/clients",
            json={
                "client_name": unique("second-admin"),
                "grant_types": ["client_credentials"],
                "scope": BOTH_SCOPES,
            },
        ),
        201,
    )
    client_id, secret = created["client_id"], created["client_secret"]
    admin.secrets_seen.append(secret)
    revoked = client_token(server, client_id, secret, ADMIN_READ_SCOPE)
    httpx.post(
        server.base_url + "/revoke", data={"token": revoked}, auth=(client_id, secret)
    ).raise_for_status()
    with api_client(server, revoked) as http:
        assert "revoked" in problem(http.get("/users"), 401)["detail"]

    live = client_token(server, client_id, secret, ADMIN_READ_SCOPE)
    with api_client(server, live) as http:
        ok(http.get("/users"))
        ok(admin.http.delete(f"/clients/{client_id}"), 204)
        assert problem(http.get("/users"), 401)["error"] == "invalid_token"


def test_rfc9068_user_token_needs_the_admin_role_now_not_only_at_issue(
    server: LiveServer, admin: Admin
) -> None:
    client = make_client(server, scopes=[ADMIN_READ_SCOPE], first_party=True)
    username = make_user(server)
    user_id = user_id_of(server, username)
    ok(admin.http.put(f"/users/{user_id}/roles/admin"), 204)
    code, verifier, _ = obtain_code(server, client, username, scope=ADMIN_READ_SCOPE)
    with httpx.Client(base_url=server.base_url) as http:
        tokens = exchange(http, client, code, verifier)
    assert tokens["scope"] == ADMIN_READ_SCOPE
    with api_client(server, tokens["access_token"]) as http:
        assert ok(http.get(f"/users/{user_id}"))["username"] == username
        problem(http.post("/roles", json={"name": unique("r")}), 403)
        # The role gates the scope (bootstrap); losing it takes the scope away at once.
        ok(admin.http.delete(f"/users/{user_id}/roles/admin"), 204)
        problem(http.get("/users"), 403)
        ok(admin.http.put(f"/users/{user_id}/roles/admin"), 204)
        ok(http.get("/users"))
        ok(admin.http.patch(f"/users/{user_id}", json={"disabled": True}))
        problem(http.get("/users"), 401)


def test_rfc9457_unknown_route_bad_method_and_nul_are_problems(admin: Admin) -> None:
    problem(admin.http.get("/no-such-route"), 404)
    problem(admin.http.put("/users"), 405)
    problem(admin.http.get("/users", params={"username_prefix": "a\x00b"}), 400)
    problem(admin.http.get("/users", params={"cursor": "not a cursor"}), 400)
    problem(admin.http.get("/users", params={"limit": 0}), 422)
    problem(admin.http.get("/users", params={"limit": 201}), 422)


def test_rfc9457_validation_problem_lists_errors_without_echoing_input(admin: Admin) -> None:
    secret_input = "tiny" + secrets.token_hex(1)
    response = admin.http.post(
        "/users", json={"username": unique("u"), "password": secret_input, "role": "x"}
    )
    body = problem(response, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "password"), ("body", "role")}
    assert secret_input not in response.text
    problem(
        admin.http.post("/users", content=b"{", headers={"content-type": "application/json"}), 422
    )
    # A NUL anywhere in a JSON body is refused before the schema (PostgreSQL cannot store it).
    problem(admin.http.post("/users", json={"username": "nul\u0000name"}), 400)


# -- users -----------------------------------------------------------------------------


def test_user_crud_with_rfc9457_404_409_422(server: LiveServer, admin: Admin) -> None:
    password = "admin-set " + secrets.token_urlsafe(12)
    admin.secrets_seen.append(password)
    created = admin.http.post(
        "/users",
        json={
            "username": unique("carol"),
            "email": "carol@example.com",
            "password": password,
            "profile": {"given_name": "Carol", "address": {"country": "NZ"}},
        },
    )
    user = ok(created, 201)
    assert created.headers["location"] == f"{API}/users/{user['id']}"
    assert user["has_password"] is True and "password" not in user
    assert user["profile"] == {"given_name": "Carol", "address": {"country": "NZ"}}
    assert ok(admin.http.get(f"/users/{user['id']}")) == user

    conflict = problem(admin.http.post("/users", json={"username": user["username"]}), 409)
    assert user["username"] in conflict["detail"]
    # The configured minimum (12 by default) is checked beyond the schema's 8.
    problem(admin.http.post("/users", json={"username": unique("d"), "password": "short-pw1"}), 422)

    patched = ok(
        admin.http.patch(
            f"/users/{user['id']}",
            json={
                "email": "carol@example.org",
                "phone_number": "+64 21 555 0100",
                "profile": {"given_name": None, "family_name": "Jones"},
            },
        )
    )
    assert patched["email"] == "carol@example.org"
    assert patched["email_verified"] is False
    assert patched["profile"] == {"family_name": "Jones", "address": {"country": "NZ"}}
    verified = ok(admin.http.patch(f"/users/{user['id']}", json={"email_verified": True}))
    assert verified["email_verified"] is True
    problem(admin.http.patch(f"/users/{user['id']}", json={"username": "renamed"}), 422)

    ok(admin.http.delete(f"/users/{user['id']}"), 204)
    problem(admin.http.get(f"/users/{user['id']}"), 404)
    problem(admin.http.delete(f"/users/{user['id']}"), 404)
    problem(admin.http.patch("/users/nobody", json={}), 404)


def test_users_keyset_pagination_and_filters(admin: Admin) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        made = admin.http.post("/users", json={"username": name, "email": f"{name}@Example.com"})
        last = ok(made, 201)
    ok(admin.http.patch(f"/users/{last['id']}", json={"disabled": True}))

    first = ok(admin.http.get("/users", params={"username_prefix": prefix, "limit": 2}))
    assert [u["username"] for u in first["items"]] == names[:2]
    assert first["next_cursor"]
    pages = [first]
    while pages[-1]["next_cursor"]:
        params = {"username_prefix": prefix, "limit": 2, "cursor": pages[-1]["next_cursor"]}
        pages.append(ok(admin.http.get("/users", params=params)))
    assert [u["username"] for p in pages for u in p["items"]] == names
    assert len(pages) == 3 and pages[-1]["next_cursor"] is None

    # email matches exactly, in any case; disabled filters both ways.
    by_email = ok(admin.http.get("/users", params={"email": f"{names[1]}@example.COM"}))
    assert [u["username"] for u in by_email["items"]] == [names[1]]
    disabled = ok(admin.http.get("/users", params={"username_prefix": prefix, "disabled": True}))
    assert [u["username"] for u in disabled["items"]] == [names[4]]
    enabled = all_pages(admin.http, "/users", username_prefix=prefix, disabled=False, limit=1)
    assert [u["username"] for u in enabled] == names[:4]
    # A cursor of another listing is refused, not misread.
    roles_cursor = ok(admin.http.get("/roles", params={"limit": 1}))["next_cursor"]
    if roles_cursor:
        problem(admin.http.get("/users", params={"cursor": roles_cursor}), 400)


def test_disabling_user_kills_refresh_token_and_access_token_at_once(
    server: LiveServer, admin: Admin
) -> None:
    client = make_client(server)
    username = make_user(server)
    code, verifier, _ = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url) as http:
        tokens = exchange(http, client, code, verifier)
        assert introspect(http, client, tokens["access_token"])["active"] is True

        user_id = user_id_of(server, username)
        patched = ok(admin.http.patch(f"/users/{user_id}", json={"disabled": True}))
        assert patched["disabled"] is True

        refused = refresh(http, client, tokens["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        assert introspect(http, client, tokens["access_token"]) == {"active": False}

        # Enabling again does not revive what was revoked (accounts.lifecycle.disable).
        assert (
            ok(admin.http.patch(f"/users/{user_id}", json={"disabled": False}))["disabled"] is False
        )
        assert refresh(http, client, tokens["refresh_token"]).status_code == 400
    events = ok(admin.http.get("/audit", params={"user_id": user_id}))["items"]
    assert [e["type"] for e in events if e["actor"].startswith("admin:")] == [
        "user.disabled",
        "user.enabled",
    ]


def test_admin_set_password_lets_the_user_sign_in(server: LiveServer, admin: Admin) -> None:
    user = create_user(admin)
    assert user["has_password"] is False
    password = "new password " + secrets.token_urlsafe(8)
    admin.secrets_seen.append(password)
    assert ok(admin.http.patch(f"/users/{user['id']}", json={"password": password}))["has_password"]
    client = make_client(server)
    _, challenge = pkce_pair()
    with browser(server) as web:
        response = login_and_consent(
            web, authorize_params(client, challenge), user["username"], password
        )
    assert "code" in query_of(response.headers["location"])


def sign_in(server: LiveServer, web: httpx.Client, client: RegisteredClient, username: str) -> str:
    """Log in and consent in this browser; returns the code."""
    _, challenge = pkce_pair()
    response = login_and_consent(web, authorize_params(client, challenge), username)
    return query_of(response.headers["location"])["code"]


def test_sessions_listed_with_clients_and_deleted_by_sid_need_login_again(
    server: LiveServer, admin: Admin
) -> None:
    client = make_client(server, first_party=True)
    username = make_user(server)
    user_id = user_id_of(server, username)
    with browser(server) as web:
        sign_in(server, web, client, username)
        sessions = ok(admin.http.get(f"/users/{user_id}/sessions"))["items"]
        assert len(sessions) == 1
        session = sessions[0]
        assert session["client_ids"] == [client.client_id]
        assert session["auth_time"] <= session["expires_at"]
        assert session["amr"] == ["pwd"]

        problem(admin.http.delete(f"/users/{user_id}/sessions/not-a-sid"), 404)
        ok(admin.http.delete(f"/users/{user_id}/sessions/{session['sid']}"), 204)
        assert ok(admin.http.get(f"/users/{user_id}/sessions"))["items"] == []
        _, challenge = pkce_pair()
        login_page(web, authorize_params(client, challenge))

    with browser(server) as first, browser(server) as second:
        sign_in(server, first, client, username)
        sign_in(server, second, client, username)
        assert ok(admin.http.delete(f"/users/{user_id}/sessions")) == {"count": 2}
    events = ok(admin.http.get("/audit", params={"user_id": user_id}))["items"]
    ended = [e["details"] for e in events if e["type"] == "session.ended_by_admin"]
    assert ended == [{"sid": session["sid"], "backchannel_clients": []}, {"count": 2}]


def test_consents_listed_and_revoked(server: LiveServer, admin: Admin) -> None:
    client = make_client(server)
    username = make_user(server)
    user_id = user_id_of(server, username)
    obtain_code(server, client, username)
    consents = ok(admin.http.get(f"/users/{user_id}/consents"))
    assert consents["items"][0]["client_id"] == client.client_id
    assert consents["items"][0]["scopes"] == ["read"]
    assert consents["next_cursor"] is None
    ok(admin.http.delete(f"/users/{user_id}/consents/{client.client_id}"), 204)
    assert ok(admin.http.get(f"/users/{user_id}/consents"))["items"] == []
    problem(admin.http.delete(f"/users/{user_id}/consents/{client.client_id}"), 404)


def test_unlock_clears_the_account_lockout(server: LiveServer, admin: Admin) -> None:
    user = create_user(admin)
    key = account_key(user["username"])

    async def fail_and_check(services: Services) -> int:
        await services.throttle.failed([key])
        return await services.store.throttles.locked_until([key])

    server.call(fail_and_check)
    assert ok(admin.http.post(f"/users/{user['id']}/unlock")) == {"count": 1}
    assert server.call(lambda s: s.store.throttles.locked_until([key])) == 0
    assert ok(admin.http.post(f"/users/{user['id']}/unlock")) == {"count": 0}
    body = ok(admin.http.post("/lockouts/unlock", json={"ip": "192.0.2.7"}))
    assert body == {"ip": "192.0.2.7", "count": 0}
    problem(admin.http.post("/lockouts/unlock", json={"ip": "not-an-ip"}), 422)


# -- roles, groups, scopes -------------------------------------------------------------


def test_roles_created_assigned_unassigned_and_deleted(admin: Admin) -> None:
    name = unique("auditor")
    created = admin.http.post("/roles", json={"name": name, "description": "reads logs"})
    assert ok(created, 201)["description"] == "reads logs"
    assert created.headers["location"] == f"{API}/roles/{name}"
    problem(admin.http.post("/roles", json={"name": name}), 409)
    problem(admin.http.post("/roles", json={"name": "has space"}), 422)
    assert ok(admin.http.get(f"/roles/{name}"))["name"] == name
    assert name in {r["name"] for r in all_pages(admin.http, "/roles", limit=2)}

    user = create_user(admin)
    ok(admin.http.put(f"/users/{user['id']}/roles/{name}"), 204)
    ok(admin.http.put(f"/users/{user['id']}/roles/{name}"), 204)  # idempotent
    assert ok(admin.http.get(f"/users/{user['id']}/roles"))["items"] == [
        {"name": name, "direct": True}
    ]
    problem(admin.http.put(f"/users/{user['id']}/roles/no-such-role"), 404)
    problem(admin.http.put(f"/users/nobody/roles/{name}"), 404)
    ok(admin.http.delete(f"/users/{user['id']}/roles/{name}"), 204)
    problem(admin.http.delete(f"/users/{user['id']}/roles/{name}"), 404)
    ok(admin.http.delete(f"/roles/{name}"), 204)
    problem(admin.http.get(f"/roles/{name}"), 404)


def test_groups_members_roles_and_nesting(admin: Admin) -> None:
    role = ok(admin.http.post("/roles", json={"name": unique("editor")}), 201)["name"]
    parent = ok(admin.http.post("/groups", json={"name": unique("staff")}), 201)
    child = ok(admin.http.post("/groups", json={"name": unique("team"), "external_id": "x1"}), 201)
    problem(admin.http.post("/groups", json={"name": parent["name"]}), 409)
    user = create_user(admin)

    ok(admin.http.put(f"/groups/{child['id']}/members/{user['id']}"), 204)
    ok(admin.http.put(f"/groups/{parent['id']}/roles/{role}"), 204)
    ok(admin.http.put(f"/groups/{child['id']}/parents/{parent['id']}"), 204)
    # Members of the child hold the parent's role and are in both groups.
    assert ok(admin.http.get(f"/users/{user['id']}/roles"))["items"] == [
        {"name": role, "direct": False}
    ]
    groups = ok(admin.http.get(f"/users/{user['id']}/groups"))["items"]
    assert {(g["id"], g["direct"]) for g in groups} == {(child["id"], True), (parent["id"], False)}
    members = ok(admin.http.get(f"/groups/{child['id']}/members"))["items"]
    assert members == [{"id": user["id"], "username": user["username"]}]
    detail = ok(admin.http.get(f"/groups/{parent['id']}"))
    assert detail["roles"] == [role] and detail["children"] == [child["id"]]
    assert ok(admin.http.get(f"/groups/{child['id']}"))["parents"] == [parent["id"]]

    # A cycle is a conflict; so is a group in itself.
    problem(admin.http.put(f"/groups/{parent['id']}/parents/{child['id']}"), 409)
    problem(admin.http.put(f"/groups/{parent['id']}/parents/{parent['id']}"), 409)
    problem(admin.http.put(f"/groups/{child['id']}/members/nobody"), 404)
    problem(admin.http.put(f"/groups/{child['id']}/roles/no-such-role"), 404)

    renamed = ok(admin.http.patch(f"/groups/{child['id']}", json={"name": unique("crew")}))
    assert renamed["external_id"] == "x1"
    problem(admin.http.patch(f"/groups/{child['id']}", json={"name": parent["name"]}), 409)
    assert (
        ok(admin.http.patch(f"/groups/{child['id']}", json={"external_id": None}))["external_id"]
        is None
    )

    ok(admin.http.delete(f"/groups/{child['id']}/parents/{parent['id']}"), 204)
    problem(admin.http.delete(f"/groups/{child['id']}/parents/{parent['id']}"), 404)
    ok(admin.http.delete(f"/groups/{parent['id']}/roles/{role}"), 204)
    ok(admin.http.delete(f"/groups/{child['id']}/members/{user['id']}"), 204)
    problem(admin.http.delete(f"/groups/{child['id']}/members/{user['id']}"), 404)
    assert ok(admin.http.get(f"/users/{user['id']}/groups"))["items"] == []
    for group in (child, parent):
        ok(admin.http.delete(f"/groups/{group['id']}"), 204)
        problem(admin.http.get(f"/groups/{group['id']}"), 404)


def test_group_nesting_is_bounded_and_never_a_cycle(admin: Admin) -> None:
    chain = [
        ok(admin.http.post("/groups", json={"name": unique("lvl")}), 201)["id"] for _ in range(18)
    ]
    for lower, upper in itertools.pairwise(chain[:-1]):
        ok(admin.http.put(f"/groups/{lower}/parents/{upper}"), 204)
    # 16 links is the deepest nesting the API builds; the 17th is refused.
    body = problem(admin.http.put(f"/groups/{chain[-2]}/parents/{chain[-1]}"), 409)
    assert "16" in body["detail"]
    # Closing a cycle over the whole chain is found, however long it is.
    problem(admin.http.put(f"/groups/{chain[-2]}/parents/{chain[0]}"), 409)
    for group in chain:
        ok(admin.http.delete(f"/groups/{group}"), 204)


def test_scopes_with_required_roles_never_open_silently(admin: Admin) -> None:
    role = ok(admin.http.post("/roles", json={"name": unique("billing")}), 201)["name"]
    name = f"https://api.example.com/{unique('invoices')}"
    created = admin.http.post("/scopes", json={"name": name, "required_roles": [role]})
    assert ok(created, 201)["required_roles"] == [role]
    assert ok(admin.http.get(created.headers["location"].removeprefix(API)))["name"] == name
    problem(admin.http.post("/scopes", json={"name": name}), 409)
    problem(admin.http.post("/scopes", json={"name": unique("s"), "required_roles": ["nope"]}), 422)
    problem(admin.http.post("/scopes", json={"name": "two words"}), 422)

    # Deleting the gating role, or the gated scope, would open the scope to everyone.
    assert role in problem(admin.http.delete(f"/roles/{role}"), 409)["detail"]
    problem(admin.http.delete(f"/scopes/{name}"), 409)
    problem(admin.http.patch(f"/scopes/{ADMIN_SCOPE}", json={"required_roles": []}), 409)
    # Fail closed: even a role that is one of several gating a scope stays until the
    # scope's required_roles change (storage.repos.access.delete_role).
    other = ok(admin.http.post("/roles", json={"name": unique("other")}), 201)["name"]
    both = ok(admin.http.patch(f"/scopes/{name}", json={"required_roles": [other, role]}))
    assert both["required_roles"] == sorted([other, role])
    problem(admin.http.delete(f"/roles/{other}"), 409)
    ok(admin.http.patch(f"/scopes/{name}", json={"required_roles": [role]}))
    ok(admin.http.delete(f"/roles/{other}"), 204)

    patched = ok(admin.http.patch(f"/scopes/{name}", json={"description": "bills"}))
    assert patched == {**patched, "description": "bills", "required_roles": [role]}
    assert (
        ok(admin.http.patch(f"/scopes/{name}", json={"required_roles": []}))["required_roles"] == []
    )
    listed = all_pages(admin.http, "/scopes", limit=3)
    assert name in {s["name"] for s in listed}
    assert {s["name"]: s["required_roles"] for s in listed}[ADMIN_SCOPE] == ["admin"]
    ok(admin.http.delete(f"/scopes/{name}"), 204)
    problem(admin.http.get(f"/scopes/{name}"), 404)
    ok(admin.http.delete(f"/roles/{role}"), 204)


# -- clients ---------------------------------------------------------------------------


def test_clients_crud_and_the_secret_only_in_the_create_response(admin: Admin) -> None:
    response = admin.http.post(
        "/clients",
        json={
            "client_name": "Web shop",
            "redirect_uris": ["https://shop.example.com/cb"],
            "scope": "openid read",
        },
    )
    created = ok(response, 201)
    admin.secrets_seen.append(created["client_secret"])
    client_id = created["client_id"]
    assert created["client_secret"].startswith("ost_cs_")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["location"] == f"{API}/clients/{client_id}"
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    shown = ok(admin.http.get(f"/clients/{client_id}"))
    assert "client_secret" not in shown and shown["scope"] == "openid read"

    problem(admin.http.post("/clients", json={"client_name": "x", "client_id": client_id}), 409)
    bad = admin.http.post(
        "/clients", json={"client_name": "x", "public": True, "grant_types": ["client_credentials"]}
    )
    assert "public" in problem(bad, 422)["detail"]
    problem(admin.http.patch(f"/clients/{client_id}", json={"public": True}), 422)
    problem(admin.http.patch(f"/clients/{client_id}", json={"client_name": None}), 422)
    problem(
        admin.http.patch(f"/clients/{client_id}", json={"redirect_uris": ["http://x.com/"]}), 422
    )

    patched = ok(
        admin.http.patch(
            f"/clients/{client_id}",
            json={"client_name": "Shop", "access_token_ttl": 600, "include_roles": True},
        )
    )
    assert (patched["client_name"], patched["access_token_ttl"], patched["include_roles"]) == (
        "Shop",
        600,
        True,
    )
    public = ok(
        admin.http.post(
            "/clients",
            json={
                "client_name": "SPA",
                "public": True,
                "redirect_uris": ["https://spa.example/cb"],
            },
        ),
        201,
    )
    assert public["client_secret"] is None and public["token_endpoint_auth_method"] == "none"

    ids = [c["client_id"] for c in all_pages(admin.http, "/clients", limit=2)]
    assert ids == sorted(ids) and {client_id, public["client_id"]} <= set(ids)
    for cid in (client_id, public["client_id"]):
        ok(admin.http.delete(f"/clients/{cid}"), 204)
        problem(admin.http.get(f"/clients/{cid}"), 404)
    problem(admin.http.delete(f"/clients/{client_id}"), 404)
    problem(admin.http.post(f"/clients/{client_id}/revoke-tokens"), 404)


def test_rfc7009_revoke_tokens_of_a_client(server: LiveServer, admin: Admin) -> None:
    client = make_client(server)
    username = make_user(server)
    code, verifier, _ = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url) as http:
        tokens = exchange(http, client, code, verifier)
        assert ok(admin.http.post(f"/clients/{client.client_id}/revoke-tokens")) == {"count": 1}
        assert refresh(http, client, tokens["refresh_token"]).status_code == 400
        assert introspect(http, client, tokens["access_token"]) == {"active": False}
    events = ok(admin.http.get("/audit", params={"client_id": client.client_id}))["items"]
    assert [(e["type"], e["actor"]) for e in events if e["type"].startswith("client.")] == [
        ("client.tokens_revoked", f"admin:{admin.client_id}")
    ]
    assert ok(admin.http.post(f"/clients/{client.client_id}/unlock")) == {"count": 0}


# -- audit -----------------------------------------------------------------------------


def test_audit_has_a_row_per_mutation_by_admin_actor_and_never_a_secret(
    server: LiveServer, admin: Admin
) -> None:
    mark = all_pages(admin.http, "/audit", limit=200)[-1]
    password = "audit check " + secrets.token_urlsafe(8)
    admin.secrets_seen.append(password)
    user = create_user(admin, password=password)
    ok(
        admin.http.patch(
            f"/users/{user['id']}", json={"email": "a@example.com", "password": password}
        )
    )
    role = ok(admin.http.post("/roles", json={"name": unique("r")}), 201)["name"]
    ok(admin.http.put(f"/users/{user['id']}/roles/{role}"), 204)
    group = ok(admin.http.post("/groups", json={"name": unique("g")}), 201)
    ok(admin.http.put(f"/groups/{group['id']}/members/{user['id']}"), 204)
    scope = ok(admin.http.post("/scopes", json={"name": unique("sc")}), 201)["name"]
    client = ok(admin.http.post("/clients", json={"client_name": "audited"}), 201)
    admin.secrets_seen.append(client["client_secret"])
    ok(admin.http.patch(f"/clients/{client['client_id']}", json={"scope": "read"}))
    ok(admin.http.delete(f"/clients/{client['client_id']}"), 204)
    ok(admin.http.delete(f"/scopes/{scope}"), 204)
    ok(admin.http.delete(f"/groups/{group['id']}"), 204)
    ok(admin.http.delete(f"/users/{user['id']}/roles/{role}"), 204)
    ok(admin.http.delete(f"/roles/{role}"), 204)
    ok(admin.http.delete(f"/users/{user['id']}"), 204)

    # Keyset pages of 3, filtered by time: every event once, in id order.
    pages = all_pages(admin.http, "/audit", since=mark["at"], limit=3)
    mine = [e for e in pages if e["id"] > mark["id"]]
    ids = [e["id"] for e in mine]
    assert ids == sorted(set(ids))
    by_admin = [e for e in mine if e["actor"] == f"admin:{admin.client_id}"]
    expected = [
        "user.created",
        "user.updated",
        "user.password_set",
        "role.created",
        "role.assigned",
        "group.created",
        "group.member_added",
        "scope.created",
        "client.created",
        "client.updated",
        "client.tokens_revoked",
        "client.deleted",
        "scope.deleted",
        "group.deleted",
        "role.unassigned",
        "role.deleted",
        "user.deleted",
    ]
    assert [e["type"] for e in by_admin] == expected
    updated = next(e for e in by_admin if e["type"] == "client.updated")
    assert updated["details"]["before"]["scope"] == "" and updated["details"]["after"] == {
        "scope": "read"
    }
    # The caller's address is kept, except on the deleted user's rows (pseudonymised).
    kept = [e for e in by_admin if not (e["user_id"] or "").startswith("deleted:")]
    # (accounts.lifecycle writes the client events and does not know the address.)
    from_lifecycle = {"client.tokens_revoked", "client.deleted"}
    assert {e["ip"] for e in kept if e["type"] not in from_lifecycle} == {"127.0.0.1"}

    # Filters: type, client_id, and user_id (the deleted user's rows are pseudonymised).
    created = ok(admin.http.get("/audit", params={"type": "client.created", "since": mark["at"]}))
    assert client["client_id"] in {e["client_id"] for e in created["items"]}
    assert ok(admin.http.get("/audit", params={"user_id": user["id"]}))["items"] == []
    future = ok(admin.http.get("/audit", params={"since": "2999-01-01T00:00:00Z"}))
    assert future == {"items": [], "next_cursor": None}

    everything = json.dumps(all_pages(admin.http, "/audit", limit=200))
    for secret in admin.secrets_seen:
        assert secret not in everything
    assert "$argon2" not in everything and "password_hash" not in everything


def test_user_disabled_event_keeps_the_revoked_token_count(admin: Admin) -> None:
    user = create_user(admin)
    ok(admin.http.patch(f"/users/{user['id']}", json={"disabled": True}))
    events = ok(admin.http.get("/audit", params={"user_id": user["id"], "type": "user.disabled"}))
    assert events["items"][0]["details"]["refresh_tokens_revoked"] == 0
