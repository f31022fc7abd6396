"""What an administrator does when a user loses a device: list the user's second factors
and remove one or all of them, on the command line (``ostiary user mfa list|reset``) and
in the admin API (``GET``/``DELETE /admin/api/v1/users/{id}/mfa``). Both go through
``accounts.mfa.admin.reset``: audited as ``mfa.reset`` with the admin as actor, and every
session of the user ends. Errors of the API are RFC 9457 problem details.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from ostiary import clock
from ostiary.accounts.mfa import recovery, totp
from ostiary.services import Services
from tests.conftest import SECRET_KEY, LiveServer
from tests.e2e import test_admin_api as admin_api
from tests.e2e.account_fixtures import is_signed_in, signed_in_browser
from tests.e2e.helpers import browser, make_user
from tests.e2e.processes import clean_env
from tests.e2e.test_account_login_mfa import password_step
from tests.e2e.test_account_security import (
    audit_of,
    code_at,
    factors_of,
    recovery_left,
    session_browser,
    steady_step,
)
from tests.integration.test_cli import failed, ok, one_json_document, ostiary

admin = admin_api.admin
reader = admin_api.reader
Admin = admin_api.Admin
problem = admin_api.problem
# Members a factor's public view may have: nothing secret (no seed, key or counter).
PUBLIC_MEMBERS = {"id", "kind", "name", "created_at", "last_used_at", "confirmed", "synced"}


def two_factors(server: LiveServer, username: str) -> list[str]:
    """Two confirmed authenticator apps and ten recovery codes, set up through the store
    as the security page sets them up; the factors' ids."""

    async def enrol(services: Services) -> list[str]:
        user = await services.store.users.by_username(username)
        assert user is not None
        ids = []
        for name in ("Phone", "Tablet"):
            factors = services.store.factors
            factor_id, secret = await totp.begin(factors, services.settings, user.id, name)
            code = code_at(secret, clock.now() // totp.STEP)
            assert await totp.confirm(factors, services.settings, user.id, factor_id, code)
            ids.append(factor_id)
        await recovery.replace(services.store.factors, user.id)
        return ids

    steady_step()
    return server.call(enrol)


def enrolled(server: LiveServer) -> tuple[str, str, str, str]:
    """A new user with two factors: username, user id, the factors' ids."""
    username = make_user(server)
    phone, tablet = two_factors(server, username)
    return username, admin_api.user_id_of(server, username), phone, tablet


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


def test_cli_user_mfa_list_table_and_json_never_show_a_secret(
    server: LiveServer, env: dict[str, str]
) -> None:
    username = make_user(server)
    phone, tablet = two_factors(server, username)
    table = ok(ostiary(env, "user", "mfa", "list", username))
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "NAME", "CREATED", "LAST", "USED", "CONFIRMED"]
    assert sorted(r.split()[:3] for r in rows) == sorted(
        [[phone, "totp", "Phone"], [tablet, "totp", "Tablet"]]
    )
    assert "2 factor(s); 10 unused recovery code(s)" in table.stderr
    listed = one_json_document(ostiary(env, "user", "mfa", "list", username, "--json"))
    assert listed["recovery_codes_left"] == 10
    assert {f["id"] for f in listed["factors"]} == {phone, tablet}
    assert all(set(f) <= PUBLIC_MEMBERS and f["confirmed"] for f in listed["factors"])
    # A user with nothing enrolled: an empty list, not an error.
    other = make_user(server)
    assert one_json_document(ostiary(env, "user", "mfa", "list", other, "--json")) == {
        "factors": [],
        "recovery_codes_left": 0,
    }


def test_cli_user_mfa_reset_one_then_all_ends_sessions_and_is_audited(
    server: LiveServer, env: dict[str, str]
) -> None:
    username = make_user(server)
    phone, tablet = two_factors(server, username)
    with session_browser(server, username) as web:
        one = one_json_document(
            ostiary(env, "user", "mfa", "reset", username, "--factor", phone, "--json")
        )
        assert one["factors_removed"] == [phone]
        assert one["recovery_codes_deleted"] is False and one["sessions_ended"] == 1
        assert not is_signed_in(web)
    assert [f.id for f in factors_of(server, username)] == [tablet]
    assert recovery_left(server, username) == 10
    with session_browser(server, username) as web:
        everything = ok(ostiary(env, "user", "mfa", "reset", username))
        assert f"removed 1 factor(s) of {username} and their recovery codes" in everything.stderr
        assert "ended 1 session(s)" in everything.stderr
        assert not is_signed_in(web)
    assert factors_of(server, username) == [] and recovery_left(server, username) == 0
    events = sorted(audit_of(server, username, "mfa.reset"), key=lambda e: e.id)
    assert [e.actor for e in events] == ["cli", "cli"]
    assert events[0].details["factors"] == [{"id": phone, "kind": "totp", "name": "Phone"}]
    assert events[1].details["recovery_codes_deleted"] is True
    # Nothing left: a reset is no change (no event, nothing ended).
    again = one_json_document(ostiary(env, "user", "mfa", "reset", username, "--json"))
    assert again["factors_removed"] == [] and again["sessions_ended"] == 0
    assert len(audit_of(server, username, "mfa.reset")) == 2
    # The user signs in on the password alone again (and enrols anew where required).
    with browser(server) as web:
        assert password_step(web, username).headers["location"] == "/account"


def test_cli_user_mfa_unknown_user_or_factor_exits_1(
    server: LiveServer, env: dict[str, str]
) -> None:
    username = make_user(server)
    (phone, _) = two_factors(server, username)
    failed(ostiary(env, "user", "mfa", "list", "nobody-" + username), "no user")
    failed(
        ostiary(env, "user", "mfa", "reset", username, "--factor", "no-such-id", "--json"),
        f"user {username} has no factor 'no-such-id'",
    )
    other = make_user(server)
    failed(ostiary(env, "user", "mfa", "reset", other, "--factor", phone), "has no factor")
    assert len(factors_of(server, username)) == 2
    usage = ostiary(env, "user", "mfa")
    assert usage.returncode == 2 and "list" in usage.stderr and "reset" in usage.stderr


# -- the admin API -------------------------------------------------------------------------------


def test_admin_api_get_mfa_lists_public_views_and_codes_left(
    server: LiveServer, admin: Admin, reader: httpx.Client
) -> None:
    _, user_id, phone, tablet = enrolled(server)
    for http in (admin.http, reader):
        answer = http.get(f"/users/{user_id}/mfa")
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["recovery_codes_left"] == 10
        assert {f["id"]: f["name"] for f in body["factors"]} == {phone: "Phone", tablet: "Tablet"}
        assert all(set(f) <= PUBLIC_MEMBERS for f in body["factors"])
        assert {f["kind"] for f in body["factors"]} == {"totp"}
    problem(admin.http.get("/users/no-such-user/mfa"), 404)


def test_admin_api_delete_one_factor_then_all(
    server: LiveServer, admin: Admin, reader: httpx.Client
) -> None:
    username, user_id, phone, tablet = enrolled(server)
    # RFC 6750 §3.1: the read-only scope cannot change anything.
    assert problem(reader.delete(f"/users/{user_id}/mfa"), 403)["error"] == "insufficient_scope"
    assert problem(reader.delete(f"/users/{user_id}/mfa/{phone}"), 403)
    with session_browser(server, username) as web:
        answer = admin.http.delete(f"/users/{user_id}/mfa/{phone}")
        assert answer.status_code == 204, answer.text
        assert not is_signed_in(web)
    assert (
        "does not exist"
        in problem(admin.http.delete(f"/users/{user_id}/mfa/{phone}"), 404)["detail"]
    )
    other = make_user(server)
    problem(admin.http.delete(f"/users/{admin_api.user_id_of(server, other)}/mfa/{tablet}"), 404)
    assert [f.id for f in factors_of(server, username)] == [tablet]
    with (
        signed_in_browser(server, make_user(server)) as bystander,
        session_browser(server, username) as web,
    ):
        reset = admin.http.delete(f"/users/{user_id}/mfa")
        assert reset.status_code == 200, reset.text
        assert reset.json() == {
            "factors_removed": [tablet],
            "recovery_codes_deleted": True,
            "sessions_ended": 1,
        }
        assert not is_signed_in(web)
        assert is_signed_in(bystander)  # only the user's sessions end
    assert admin.http.get(f"/users/{user_id}/mfa").json() == {
        "factors": [],
        "recovery_codes_left": 0,
    }
    events = sorted(audit_of(server, username, "mfa.reset"), key=lambda e: e.id)
    assert [e.actor for e in events] == [f"admin:{admin.client_id}"] * 2
    assert all(e.ip == "127.0.0.1" for e in events)
    assert not any(secret in json.dumps(e.details) for e in events for secret in admin.secrets_seen)
    problem(admin.http.delete("/users/no-such-user/mfa"), 404)


def test_admin_api_openapi_documents_the_mfa_endpoints(server: LiveServer) -> None:
    schema: dict[str, Any] = httpx.get(server.base_url + admin_api.API + "/openapi.json").json()
    item = schema["paths"]["/users/{user_id}/mfa"]
    assert set(item) >= {"get", "delete"}
    assert "404" in item["get"]["responses"] and "404" in item["delete"]["responses"]
    one = schema["paths"]["/users/{user_id}/mfa/{factor_id}"]["delete"]
    assert "204" in one["responses"] and "404" in one["responses"]
    members = schema["components"]["schemas"]["FactorOut"]["properties"]
    assert set(members) == PUBLIC_MEMBERS
