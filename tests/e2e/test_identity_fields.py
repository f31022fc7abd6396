"""One rule per identity field at every door, against a real server on SQLite and
PostgreSQL: a user made through any door (command line, admin API, SCIM, federation
just-in-time provisioning) is read, patched and disabled through every other; a value one
door refuses every door refuses, with nothing stored; and rows stored before the rule
(written here straight into the tables) are still read, listed, disabled and deleted
through every door, never a 500.

Rules: RFC 8265 §3.3 (usernames), RFC 5322 §3.4.1 / RFC 5321 §4.5.3.1 (addresses, as
RFC 7643 §4.1.2 ``emails`` too), no lone surrogates or control characters.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, bootstrap
from ostiary.cli.main import main as cli_main
from ostiary.federation.connectors.base import Identity
from ostiary.federation.linking import resolve_user
from ostiary.federation.providers import Provider
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from ostiary.storage.tables import scim_user_emails, scim_users, users
from tests.conftest import SECRET_KEY, LiveServer, unique
from tests.e2e.helpers import PASSWORD, make_client, obtain_code
from tests.e2e.processes import OSTIARY, clean_env
from tests.e2e.scim_fixtures import PATCH_SCHEMA, USER_SCHEMA, scim_client, scim_token

API = "/admin/api/v1"
DEACTIVATE = {
    "schemas": [PATCH_SCHEMA],
    "Operations": [{"op": "replace", "value": {"active": False}}],
}


@dataclass
class Doors:
    server: LiveServer
    admin: httpx.Client
    scim: httpx.Client
    env: dict[str, str]
    provider: Provider

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OSTIARY), *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def cli_all(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(lambda args: self.cli(*args), commands))


@pytest.fixture(scope="module")
def doors(server: LiveServer) -> Iterator[Doors]:
    made = server.call(
        lambda services: bootstrap(services, unique("root"), secrets.token_urlsafe(16))
    )
    token = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials", "scope": f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"},
        auth=(made.client_id, made.client_secret),
    ).json()["access_token"]
    provider = Provider(unique("idp"), "IdP", "oidc", "https://idp.example", "c", None, ())

    async def add_provider(services: Services) -> None:
        await ProviderRepository(services.engine, client_secrets(services.settings)).add(provider)

    server.call(add_provider)
    env = clean_env(
        OSTIARY_DATABASE_URL=server.settings.database_url, OSTIARY_SECRET_KEY=SECRET_KEY
    )
    admin = httpx.Client(
        base_url=server.base_url + API, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    with admin, scim_client(server, scim_token(server)) as scim:
        yield Doors(server, admin, scim, env, provider)


def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200,)), response.text
    return response.json() if response.content else None


def user_count(server: LiveServer) -> int:
    async def count(services: Services) -> int:
        async with services.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())

    return server.call(count)


# -- creating through each door ---------------------------------------------------------


def via_cli(doors: Doors, username: str, email: str) -> str:
    result = doors.cli("user", "create", "--username", username, "--email", email, "--json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["id"])


def via_admin(doors: Doors, username: str, email: str) -> str:
    body = {"username": username, "email": email, "password": PASSWORD}
    return str(ok(doors.admin.post("/users", json=body), 201)["id"])


def via_scim(doors: Doors, username: str, email: str) -> str:
    body = {
        "schemas": [USER_SCHEMA],
        "userName": username,
        "emails": [{"value": email, "type": "work", "primary": True}],
    }
    return str(ok(doors.scim.post("/Users", json=body), 201)["id"])


def via_federation(doors: Doors, username: str, email: str) -> str:
    identity = Identity(
        subject=uuid.uuid4().hex, email=email, email_verified=True, username_hint=username
    )
    user, _ = doors.server.call(
        lambda services: resolve_user(services, doors.provider, identity, link_user_id=None)
    )
    return user.id


def full_width(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# -- reading, patching and disabling through every door ---------------------------------


def read_everywhere(doors: Doors, user_id: str, username: str, email: str | None) -> None:
    got = ok(doors.admin.get(f"/users/{user_id}"))
    assert (got["username"], got["email"]) == (username, email)
    page = ok(doors.admin.get("/users", params={"username_prefix": username}))
    assert user_id in [u["id"] for u in page["items"]]
    scim = ok(doors.scim.get(f"/Users/{user_id}"))
    assert scim["userName"] == username
    assert [e["value"] for e in scim.get("emails", [])] == ([email] if email else [])
    projected = ok(doors.scim.get(f"/Users/{user_id}", params={"attributes": "emails"}))
    assert "userName" not in projected
    # RFC 7643 §4.1.1: userName is caseExact=false; the filter finds it in any case.
    for params in (
        {"filter": f'userName eq "{username.upper()}"', "attributes": "userName,emails"},
        {"filter": f'userName eq "{username.lower()}"', "excludedAttributes": "emails"},
    ):
        listed = ok(doors.scim.get("/Users", params=params))
        assert [r["id"] for r in listed["Resources"]] == [user_id], params


def test_a_user_from_each_door_is_read_patched_and_disabled_through_every_other(
    doors: Doors,
) -> None:
    tag = secrets.token_hex(3)
    # Valid and tricky: special-use domains (RFC 6761), non-ASCII and mixed-case names.
    # Upstream hints are reduced to ASCII for local usernames (federation/linking.py).
    made = {
        door: (name, f"a-{door.__name__}-{tag}@example.test")
        for door, name in (
            (via_cli, f"José-cli-{tag}"),
            (via_admin, f"José-api-{tag}"),
            (via_scim, f"José-scim-{tag}"),
            (via_federation, f"jose-fed-{tag}"),
        )
    }
    created = {door(doors, *values): values for door, values in made.items()}
    patch_emails = {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "emails"}]}
    for user_id, (username, email) in created.items():
        read_everywhere(doors, user_id, username, email)
        # SCIM PATCH (RFC 7644 §3.5.2) to another special-use address, then the admin API.
        moved = f"x-{user_id[:8]}@localhost"
        patch_emails["Operations"][0]["value"] = [{"value": moved, "primary": True}]
        ok(doors.scim.patch(f"/Users/{user_id}", json=patch_emails), 200, 204)
        read_everywhere(doors, user_id, username, moved)
        # One address per account: each gets its own.
        mixed = f"B-{user_id[:8]}@Example.TEST"
        patched = ok(doors.admin.patch(f"/users/{user_id}", json={"email": mixed}))
        assert patched["email"] == f"B-{user_id[:8]}@example.test", "the domain is lowercased"
        read_everywhere(doors, user_id, username, patched["email"])

    # The command line lists them all and finds one by any case and width (RFC 8265 §3.3
    # comparison): those made by SCIM and by federation here.
    ids = list(created)
    listed, *shown = doors.cli_all(
        ("user", "list", "--json"),
        *[("user", "show", full_width(created[i][0].upper()), "--json") for i in ids[2:]],
    )
    assert set(ids) <= {u["id"] for u in json.loads(listed.stdout)}, listed.stderr
    assert [json.loads(r.stdout)["id"] for r in shown] == ids[2:], [r.stderr for r in shown]

    for user_id in ids:
        ok(doors.scim.patch(f"/Users/{user_id}", json=DEACTIVATE), 200, 204)
        assert ok(doors.admin.get(f"/users/{user_id}"))["disabled"] is True
        ok(doors.admin.patch(f"/users/{user_id}", json={"disabled": False}))
        assert ok(doors.scim.get(f"/Users/{user_id}"))["active"] is True
    disabled = doors.cli("user", "disable", ids[0], "--json")
    assert disabled.returncode == 0, disabled.stderr
    for user_id in ids[1:]:
        ok(doors.admin.patch(f"/users/{user_id}", json={"disabled": True}))
    for user_id in ids:
        assert ok(doors.scim.get(f"/Users/{user_id}"))["active"] is False


def test_rfc8265_3_3_sign_in_by_any_case_or_width_of_the_username(
    doors: Doors, server: LiveServer
) -> None:
    tag = secrets.token_hex(3)
    username = f"Ann-{tag}"
    via_admin(doors, username, f"ann-{tag}@example.test")
    client = make_client(server)
    for typed in (username, username.lower(), full_width(username.upper())):
        code, _, _ = obtain_code(server, client, typed)
        assert code
    # The same name in another case or width is the same name: refused at every door.
    assert doors.admin.post("/users", json={"username": full_width(username)}).status_code == 409
    body = {"schemas": [USER_SCHEMA], "userName": username.upper()}
    assert doors.scim.post("/Users", json=body).status_code == 409
    assert doors.cli("user", "create", "--username", username.lower()).returncode == 1


# -- refused the same way by every door, nothing stored --------------------------------


def cli_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The command line's own entry point, in this process: a refusal happens before any
    setting or database is read, so the many refusal cases need no process start each
    (the lone-surrogate test below runs the real executable)."""
    code = cli_main(list(args))
    return code, capsys.readouterr().err


REFUSED_USERNAMES = [
    ("dave smith", "spaces"),
    ("ﬀ", "compatibility"),  # a ligature
    ("a\u200bdmin", "invisible"),  # zero-width space
    ("\u202eadmin", "invisible"),  # right-to-left override
    ("\u0430dmin", "scripts"),  # Cyrillic a + Latin: "admin" to the eye
    ("ad\x01min", "control"),
]
REFUSED_EMAILS = ["a@b", "notanemail", '"q"@example.com', "a@[127.0.0.1]", "a\x7f@example.com"]


@pytest.mark.parametrize(("username", "why"), REFUSED_USERNAMES)
def test_a_username_one_door_refuses_every_door_refuses(
    doors: Doors, capsys: pytest.CaptureFixture[str], username: str, why: str
) -> None:
    before = user_count(doors.server)
    admin = doors.admin.post("/users", json={"username": username})
    assert admin.status_code == 422, admin.text
    assert admin.headers["content-type"] == "application/problem+json"
    [error] = admin.json()["errors"]
    assert error["loc"] == ["body", "username"] and why in error["msg"]
    scim = doors.scim.post("/Users", json={"schemas": [USER_SCHEMA], "userName": username})
    assert scim.status_code == 400, scim.text
    assert scim.json()["scimType"] == "invalidValue"
    assert scim.json()["detail"].startswith("userName ") and why in scim.json()["detail"]
    code, said = cli_in_process(capsys, "user", "create", "--username", username)
    assert code == 1 and why in said, said
    assert said.startswith("error: --username ")
    assert user_count(doors.server) == before


@pytest.mark.parametrize("email", REFUSED_EMAILS)
def test_an_email_one_door_refuses_every_door_refuses(
    doors: Doors, capsys: pytest.CaptureFixture[str], email: str
) -> None:
    before = user_count(doors.server)
    admin = doors.admin.post("/users", json={"username": unique("e"), "email": email})
    assert admin.status_code == 422, admin.text
    assert [e["loc"] for e in admin.json()["errors"]] == [["body", "email"]]
    body = {"schemas": [USER_SCHEMA], "userName": unique("e"), "emails": [{"value": email}]}
    scim = doors.scim.post("/Users", json=body)
    assert scim.status_code == 400, scim.text
    assert scim.json()["scimType"] == "invalidValue"
    assert scim.json()["detail"].startswith("emails.value ")
    code, said = cli_in_process(
        capsys, "user", "create", "--username", unique("e"), "--email", email
    )
    assert code == 1 and said.startswith("error: --email "), said
    assert user_count(doors.server) == before
    # Federation: the upstream's address is left out, the account is still made.
    made = via_federation(doors, unique("fed"), email)
    assert ok(doors.admin.get(f"/users/{made}"))["email"] is None


JSON = {"Content-Type": "application/json"}


def escaped(body: dict[str, Any]) -> bytes:
    """JSON with non-ASCII as \\u escapes, so a lone surrogate can be sent at all."""
    return json.dumps(body).encode()


def test_lone_surrogates_are_refused_by_every_door(doors: Doors) -> None:
    """JSON ``"\\ud800"`` and a command-line argument holding a byte that is not UTF-8
    (which Python hands over as a lone surrogate, PEP 383) never reach storage."""
    before = user_count(doors.server)
    for body in ({"username": "\ud800"}, {"username": unique("s"), "email": "\udc80@example.com"}):
        response = doors.admin.post("/users", content=escaped(body), headers=JSON)
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == "application/problem+json"
    for body in (
        {"schemas": [USER_SCHEMA], "userName": "\ud800x"},
        {"schemas": [USER_SCHEMA], "userName": unique("s"), "displayName": "\udfff"},
    ):
        response = doors.scim.post("/Users", content=escaped(body))
        assert response.status_code == 400, response.text
    # "\udcff" is how Python spells the byte 0xff of an argument (surrogateescape).
    for result in doors.cli_all(
        ("user", "create", "--username", "bad\udcff"),
        ("user", "create", "--username", unique("s"), "--email", "\udcff@x.io"),
    ):
        assert result.returncode == 1 and "U+DCFF" in result.stderr, result.stderr
    assert user_count(doors.server) == before


# -- rows stored before the rule --------------------------------------------------------

# Addresses tagged too: one address names one account (other modules store such rows).
LEGACY = [
    ("dave smith {tag}", "a{tag}@b"),
    ("ctl\x01{tag}", "notanemail{tag}"),
    ("\u0430dmin{tag}", "x{tag}@[127.0.0.1]"),
    ("ﬀ{tag}", '"q{tag}"@example.com'),
]


def insert_legacy(server: LiveServer, username: str, email: str) -> str:
    """A row as an older release (or another tool) wrote it, past every door."""
    user_id = str(uuid.uuid4())

    async def write(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(
                insert(users),
                {
                    "id": user_id,
                    "username": username,
                    "email": email,
                    "disabled": False,
                    "created_at": 1,
                    "updated_at": 1,
                },
            )
            await conn.execute(
                insert(scim_users),
                {
                    "user_id": user_id,
                    "user_name_ci": username.lower(),
                    "resource": {"emails": [{"value": email, "primary": True}]},
                },
            )
            await conn.execute(
                insert(scim_user_emails),
                {"user_id": user_id, "value_ci": email.lower(), "type": None, "primary": True},
            )

    server.call(write)
    return user_id


def test_rows_stored_before_the_rule_are_read_disabled_and_deleted_by_every_door(
    doors: Doors,
) -> None:
    tag = secrets.token_hex(3)
    stored = [(u.format(tag=tag), e.format(tag=tag)) for u, e in LEGACY]
    ids = [insert_legacy(doors.server, u, e) for u, e in stored]

    for user_id, (username, email) in zip(ids, stored, strict=True):
        got = ok(doors.admin.get(f"/users/{user_id}"))
        assert (got["username"], got["email"]) == (username, email)
        scim = ok(doors.scim.get(f"/Users/{user_id}"))
        assert scim["userName"] == username and scim["emails"][0]["value"] == email
        for params in ({"attributes": "userName,emails"}, {"excludedAttributes": "emails"}):
            assert ok(doors.scim.get(f"/Users/{user_id}", params=params))["id"] == user_id
            listed = ok(doors.scim.get("/Users", params={"filter": f'id eq "{user_id}"', **params}))
            assert listed["totalResults"] == 1
        ok(doors.admin.get("/audit", params={"user_id": user_id}))

    # Whole pages holding them: the admin list, and SCIM pages with and without projection.
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        page = ok(
            doors.admin.get(
                "/users", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
            )
        )
        seen.update(u["id"] for u in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert set(ids) <= seen
    all_four = " or ".join(f'id eq "{i}"' for i in ids)
    for params in ({}, {"attributes": "userName,emails"}, {"excludedAttributes": "emails,name"}):
        found = ok(doors.scim.get("/Users", params={"filter": all_four, **params}))
        assert {r["id"] for r in found["Resources"]} == set(ids)
    for params in ({"attributes": "emails"}, {}):
        legacy_email = ok(
            doors.scim.get(
                "/Users", params={"filter": f'emails.value eq "{stored[0][1]}"', **params}
            )
        )
        assert ids[0] in [r["id"] for r in legacy_email["Resources"]]

    listed, shown = doors.cli_all(("user", "list", "--json"), ("user", "show", ids[1], "--json"))
    assert set(ids) <= {u["id"] for u in json.loads(listed.stdout)}, listed.stderr
    assert json.loads(shown.stdout)["username"] == stored[1][0], shown.stderr

    # A write that keeps the stored values is accepted (RFC 7644 §3.5.2 PATCH of another
    # attribute, and active=false), a new value must pass today's rule.
    rename = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"displayName": "Dave"}}],
    }
    ok(doors.scim.patch(f"/Users/{ids[0]}", json=rename), 200, 204)
    ok(doors.scim.patch(f"/Users/{ids[0]}", json=DEACTIVATE), 200, 204)
    assert ok(doors.admin.get(f"/users/{ids[0]}"))["disabled"] is True
    bad = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "add", "path": "emails", "value": [{"value": "c@d"}]}],
    }
    refused = doors.scim.patch(f"/Users/{ids[0]}", json=bad)
    assert refused.status_code == 400 and refused.json()["scimType"] == "invalidValue"
    ok(doors.admin.patch(f"/users/{ids[1]}", json={"disabled": True}))
    assert ok(doors.scim.get(f"/Users/{ids[1]}"))["active"] is False
    results = doors.cli_all(("user", "disable", ids[2], "--json"), ("user", "delete", ids[3]))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert ok(doors.scim.get(f"/Users/{ids[2]}"))["active"] is False

    assert doors.scim.delete(f"/Users/{ids[0]}").status_code == 204
    assert doors.admin.delete(f"/users/{ids[1]}").status_code == 204
    assert doors.scim.delete(f"/Users/{ids[2]}").status_code == 204
    for user_id in ids:
        assert doors.admin.get(f"/users/{user_id}").status_code == 404
