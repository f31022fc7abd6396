"""Roles, groups, scopes, audit, purge, admin bootstrap and user delete on the command line.

Contract (docs/cli.md, docs/roles-and-scopes.md): the real ``ostiary`` executable against
SQLite and PostgreSQL; ``--json`` prints exactly one JSON document on stdout and plain
output says what happened on stderr; an unknown user, role or group, a duplicate name, or
a nesting cycle exits 1 with a reason on stderr and changes nothing; admin changes made
here are audited with actor "cli".

Spawning ``ostiary`` costs about half a second, so independent commands run side by side
(``ostiary_concurrently``) and setup the commands do not test goes straight to the store.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from itertools import pairwise
from typing import Any, TypeVar

import httpx
import pytest

from ostiary.accounts import lifecycle
from ostiary.services import Services, build_services
from ostiary.storage.repos.audit import AuditEvent
from ostiary.storage.repos.interactions import Interaction
from tests.conftest import SECRET_KEY, LiveServer, server_settings, unique
from tests.e2e.helpers import PASSWORD
from tests.e2e.processes import OSTIARY, clean_env
from tests.integration.test_cli import (
    failed,
    ok,
    one_json_document,
    ostiary,
    ostiary_concurrently,
    sql,
)

T = TypeVar("T")


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    assert OSTIARY.exists()
    return clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)


def with_services(database_url: str, work: Callable[[Services], Awaitable[T]]) -> T:
    """Setup and inspection straight through the store (no executable to spawn)."""

    async def run() -> T:
        services = build_services(server_settings(database_url, 0))
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(run())


def add_users(database_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` new users as (username, id)."""

    async def work(services: Services) -> list[tuple[str, str]]:
        users = []
        for _ in range(count):
            user = await services.store.users.add(
                username=unique("rbac"), email=None, password_hash=None
            )
            users.append((user.username, user.id))
        return users

    return with_services(database_url, work)


def cli_events(database_url: str, type_: str) -> list[dict[str, Any]]:
    return sql(
        database_url,
        "SELECT actor, user_id, details FROM audit_events WHERE type = :t ORDER BY id",
        t=type_,
    )


def details_of(row: dict[str, Any]) -> dict[str, Any]:
    value = row["details"]
    return json.loads(value) if isinstance(value, str) else value


# -- roles --------------------------------------------------------------------------------


def test_role_create_list_assign_unassign_delete_json_plain_audited_as_cli(
    env: dict[str, str], database_url: str
) -> None:
    [(username, user_id)] = add_users(database_url, 1)
    role, other = unique("editor"), unique("viewer")

    created, plain_created = ostiary_concurrently(
        env,
        ["role", "create", role, "--description", "edits pages", "--json"],
        ["role", "create", other],
    )
    doc = one_json_document(created)
    assert doc["name"] == role and doc["description"] == "edits pages"
    assert isinstance(doc["created_at"], int)
    assert ok(plain_created).stdout == "" and f"created role {other}" in plain_created.stderr

    dup, listed_json, listed, assigned, plain_assigned, no_user = ostiary_concurrently(
        env,
        ["role", "create", role, "--json"],
        ["role", "list", "--json"],
        ["role", "list"],
        ["role", "assign", username, role, "--json"],
        ["role", "assign", user_id, other],
        ["role", "assign", unique("nobody"), role, "--json"],
    )
    failed(dup, f"role {role!r} exists")
    roles = {r["name"]: r for r in one_json_document(listed_json)}
    assert roles[role] == doc
    assert roles[other]["description"] == ""
    assert role in ok(listed).stdout and "NAME" in listed.stdout
    assert one_json_document(assigned) == {
        "user_id": user_id,
        "username": username,
        "role": role,
        "assigned": True,
    }
    assert f"assigned role {other} to {username}" in ok(plain_assigned).stderr
    failed(no_user, "no user")
    held = "SELECT role FROM user_roles WHERE user_id = :u ORDER BY role"
    assert sql(database_url, held, u=user_id) == [{"role": r} for r in sorted([role, other])]

    unassigned, plain_unassigned = ostiary_concurrently(
        env,
        ["role", "unassign", username, other, "--json"],
        ["role", "unassign", username, role],
    )
    assert one_json_document(unassigned) == {
        "user_id": user_id,
        "username": username,
        "role": other,
        "unassigned": True,
    }
    assert f"took role {role} from {username}" in ok(plain_unassigned).stderr
    assert sql(database_url, held, u=user_id) == []

    deleted, plain_deleted = ostiary_concurrently(
        env, ["role", "delete", role, "--json"], ["role", "delete", other]
    )
    assert one_json_document(deleted) == {"name": role, "deleted": True}
    assert f"deleted role {other}" in ok(plain_deleted).stderr
    assert sql(database_url, "SELECT name FROM roles WHERE name IN (:a, :b)", a=role, b=other) == []

    audited = sorted(
        (kind, e["actor"], e["user_id"] or "", details_of(e)["role"])
        for kind in ("role.created", "role.assigned", "role.unassigned", "role.deleted")
        for e in cli_events(database_url, kind)
        if details_of(e)["role"] in (role, other)
    )
    # Each change is audited once, with actor "cli"; the refused duplicate is not.
    assert audited == sorted(
        [(f"role.{k}", "cli", "", r) for k in ("created", "deleted") for r in (role, other)]
        + [
            (f"role.{k}", "cli", user_id, r)
            for k in ("assigned", "unassigned")
            for r in (role, other)
        ]
    )


# -- scopes -------------------------------------------------------------------------------


def test_scope_create_list_delete_and_role_delete_refused_while_it_alone_gates_a_scope(
    env: dict[str, str], database_url: str
) -> None:
    role, spare = unique("auditor"), unique("spare")
    gated, open_ = unique("reports:read"), unique("news")

    async def setup(services: Services) -> None:
        await services.store.access.create_role(role)
        await services.store.access.create_role(spare)

    with_services(database_url, setup)
    created, plain_open = ostiary_concurrently(
        env,
        ["scope", "create", gated, "--requires-role", role, "--requires-role", spare,
         "--description", "reports", "--json"],
        ["scope", "create", open_],
    )  # fmt: skip
    doc = one_json_document(created)
    assert doc["name"] == gated
    assert doc["required_roles"] == sorted([role, spare])
    assert doc["description"] == "reports"
    assert f"created scope {open_}, open to every user" in ok(plain_open).stderr

    dup, no_role, bad_token, listed_json, listed = ostiary_concurrently(
        env,
        ["scope", "create", gated],
        ["scope", "create", unique("x"), "--requires-role", unique("no-such-role")],
        ["scope", "create", 'say "hi"'],
        ["scope", "list", "--json"],
        ["scope", "list"],
    )
    failed(dup, f"scope {gated!r} exists")
    failed(no_role, "no role")
    failed(bad_token, "RFC 6749 §3.3")
    scopes = {s["name"]: s for s in one_json_document(listed_json)}
    assert scopes[gated] == doc
    assert scopes[open_]["required_roles"] == []
    assert gated in ok(listed).stdout and "REQUIRED_ROLES" in listed.stdout

    allowed, plain_deleted = ostiary_concurrently(
        env,
        ["role", "delete", spare],  # `role` still gates the scope
        ["scope", "delete", open_],
    )
    ok(allowed)
    assert f"deleted scope {open_}" in ok(plain_deleted).stderr
    # Deleting the last role of a scope would leave the scope open to every user.
    failed(ostiary(env, "role", "delete", role, "--json"), "only role of scope", gated)
    assert sql(database_url, "SELECT role FROM scope_roles WHERE scope = :s", s=gated) == [
        {"role": role}
    ]

    deleted, unknown = ostiary_concurrently(
        env, ["scope", "delete", gated, "--json"], ["scope", "delete", unique("no-such-scope")]
    )
    assert one_json_document(deleted) == {"name": gated, "deleted": True}
    failed(unknown, "no scope")
    actors = [
        e["actor"]
        for kind in ("scope.created", "scope.deleted")
        for e in cli_events(database_url, kind)
        if details_of(e)["scope"] in (gated, open_)
    ]
    assert actors == ["cli"] * 4


# -- groups -------------------------------------------------------------------------------


def test_group_members_roles_nesting_refuses_cycles_show_list_delete(
    env: dict[str, str], database_url: str
) -> None:
    [(username, user_id)] = add_users(database_url, 1)
    role = unique("ops")
    team, dept, org = unique("team"), unique("dept"), unique("org")
    with_services(database_url, lambda s: s.store.access.create_role(role))

    team_doc, plain_dept, org_doc = ostiary_concurrently(
        env,
        ["group", "create", team, "--json"],
        ["group", "create", dept],
        ["group", "create", org, "--json"],
    )
    team_doc, org_doc = one_json_document(team_doc), one_json_document(org_doc)
    assert team_doc["name"] == team and team_doc["external_id"] is None
    assert f"created group {dept}" in ok(plain_dept).stderr

    added, no_group, granted, nested, plain_nested = ostiary_concurrently(
        env,
        ["group", "add-member", team, username, "--json"],
        ["group", "add-member", unique("no-group"), username],
        ["group", "grant-role", org, role],
        ["group", "nest", team, dept, "--json"],
        ["group", "nest", dept, org_doc["id"]],
    )
    assert one_json_document(added) == {
        "group": team,
        "group_id": team_doc["id"],
        "user_id": user_id,
        "username": username,
        "added": True,
    }
    failed(no_group, "no group")
    assert f"granted role {role} to group {org}" in ok(granted).stderr
    nested_doc = one_json_document(nested)
    assert (nested_doc["child"], nested_doc["child_id"], nested_doc["parent"]) == (
        team,
        team_doc["id"],
        dept,
    )
    assert nested_doc["nested"] is True
    assert f"group {dept} is now inside group {org}" in ok(plain_nested).stderr

    cycle, shown_json, shown, listed_json, listed = ostiary_concurrently(
        env,
        ["group", "nest", org, team],  # team ⊂ dept ⊂ org: org inside team is a cycle
        ["group", "show", team, "--json"],
        ["group", "show", org],
        ["group", "list", "--json"],
        ["group", "list"],
    )
    failed(cycle, "cycle")
    parents = "SELECT child_id FROM group_parents WHERE parent_id = :p"
    assert sql(database_url, parents, p=team_doc["id"]) == [], "a refused nesting adds nothing"
    assert one_json_document(shown_json) == {
        **team_doc,
        "members": [{"id": user_id, "username": username}],
        "roles": [],
    }
    assert f"roles: {role}" in ok(shown).stdout and f"name: {org}" in shown.stdout
    assert {g["name"] for g in one_json_document(listed_json)} >= {team, dept, org}
    assert dept in ok(listed).stdout

    async def effective(services: Services) -> tuple[frozenset[str], frozenset[str]]:
        found = await services.store.access.effective(user_id)
        return found.roles, found.groups

    # The member of team holds org's role through two levels of nesting.
    assert with_services(database_url, effective) == ({role}, {team, dept, org})

    removed, revoked, unnested = ostiary_concurrently(
        env,
        ["group", "remove-member", team, username],
        ["group", "revoke-role", org, role, "--json"],
        ["group", "unnest", dept, org, "--json"],
    )
    assert f"removed {username} from group {team}" in ok(removed).stderr
    assert one_json_document(revoked) == {
        "group": org,
        "group_id": org_doc["id"],
        "role": role,
        "revoked": True,
    }
    assert one_json_document(unnested)["unnested"] is True

    deleted, plain_deleted = ostiary_concurrently(
        env, ["group", "delete", team, "--json"], ["group", "delete", dept]
    )
    assert one_json_document(deleted) == {"id": team_doc["id"], "name": team, "deleted": True}
    assert f"deleted group {dept}" in ok(plain_deleted).stderr
    names = "SELECT name FROM groups WHERE name IN (:a, :b, :c)"
    assert sql(database_url, names, a=team, b=dept, c=org) == [{"name": org}]
    assert with_services(database_url, effective) == (set(), set())
    kinds = ["group.member_added", "group.role_granted", "group.nested", "group.deleted"]
    for kind in kinds:
        assert any(e["actor"] == "cli" for e in cli_events(database_url, kind)), kind


@pytest.mark.xfail(
    strict=True,
    reason="BUG: AccessRepository.nest looks for the child among the parent's ancestors only "
    "MAX_GROUP_DEPTH (16) levels up, so closing a longer chain into a cycle is accepted",
)
def test_group_nest_refuses_a_cycle_closing_a_chain_longer_than_16(
    env: dict[str, str], database_url: str
) -> None:
    names = [unique("chain") for _ in range(18)]

    async def chain(services: Services) -> None:
        access = services.store.access
        groups = [await access.create_group(name) for name in names]
        for child, parent in pairwise(groups):
            await access.nest(child.id, parent.id)

    with_services(database_url, chain)
    failed(ostiary(env, "group", "nest", names[-1], names[0]), "cycle")


# -- admin bootstrap ----------------------------------------------------------------------


def test_admin_bootstrap_prints_credentials_that_work_and_refuses_a_rerun(
    env: dict[str, str], database_url: str, server: LiveServer
) -> None:
    username = unique("root")
    boot = ["admin", "bootstrap", "--username", username, "--password-stdin"]
    doc = one_json_document(ostiary(env, *boot, "--json", stdin=PASSWORD + "\n"))
    assert set(doc) == {"user_id", "username", "client_id", "client_secret"}
    assert doc["username"] == username
    assert doc["client_secret"].startswith("ost_cs_")
    held = sql(database_url, "SELECT role FROM user_roles WHERE user_id = :u", u=doc["user_id"])
    assert held == [{"role": "admin"}]

    # The admin client gets an admin-scoped token (client_credentials, RFC 6749 §4.4).
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "ostiary:admin"},
            auth=(doc["client_id"], doc["client_secret"]),
        )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "ostiary:admin"

    clients = "SELECT count(*) AS n FROM clients"
    before = sql(database_url, clients)
    rerun = ostiary(env, *boot, stdin="another password\n")
    failed(rerun, f"user {username!r} exists already")
    assert sql(database_url, clients) == before, "a refused bootstrap registers no client"


# -- audit --------------------------------------------------------------------------------


def test_audit_filters_user_since_type_client_limit_and_jsonl_exports_every_page(
    env: dict[str, str], database_url: str
) -> None:
    [(username, user_id), (_, other_id)] = add_users(database_url, 2)
    old_type, new_type, bulk = unique("test.old"), unique("test.new"), unique("test.bulk")
    client_id = unique("cli-client")
    long_ago, now = 1_000_000_000, int(time.time())

    def event(type_: str, at: int, user: str | None, client: str | None = None) -> AuditEvent:
        return AuditEvent(type=type_, actor="system", user_id=user, client_id=client, at=at)

    events = [
        event(old_type, long_ago, user_id),
        event(old_type, long_ago + 1, other_id),
        event(new_type, now, user_id, client_id),
        event(new_type, now, user_id),
        event(new_type, now, other_id, client_id),
        # more than one page (500) of the --jsonl export
        *(AuditEvent(type=bulk, actor="system", details={"n": n}) for n in range(1203)),
    ]
    with_services(database_url, lambda s: s.store.audit.add_many(events))

    results = ostiary_concurrently(
        env,
        ["audit", "--user", username, "--json"],
        ["audit", "--user", user_id, "--since", "2020-01-01", "--type", new_type, "--json"],
        ["audit", "--client", client_id, "--limit", "1", "--json"],
        ["audit", "--type", old_type],
        ["audit", "--type", bulk, "--jsonl"],
        ["audit", "--user", unique("nobody")],
        ["audit", "--since", "last tuesday", "--json"],
    )
    by_user, since_and_type, by_client, plain, exported, no_user, bad_since = results

    def summary(result: Any) -> list[tuple[str, str | None, str | None]]:
        events = one_json_document(result)
        assert [e["id"] for e in events] == sorted(e["id"] for e in events), "oldest first"
        return [(e["type"], e["user_id"], e["client_id"]) for e in events]

    assert summary(by_user) == [
        (old_type, user_id, None),
        (new_type, user_id, client_id),
        (new_type, user_id, None),
    ]
    assert summary(since_and_type) == [(new_type, user_id, client_id), (new_type, user_id, None)]
    assert summary(by_client) == [(new_type, user_id, client_id)]
    lines = ok(plain).stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "AT", "TYPE"]
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["2001-09-09T01:46:40Z", old_type],
        ["2001-09-09T01:46:41Z", old_type],
    ]
    failed(no_user, "no user")
    failed(bad_since, "--since", "ISO 8601")

    # --jsonl: every match, one JSON object per line, in order, across three pages.
    rows = [json.loads(line) for line in ok(exported).stdout.splitlines()]
    assert [r["details"]["n"] for r in rows] == list(range(1203))
    assert len({r["id"] for r in rows}) == 1203
    assert {r["type"] for r in rows} == {bulk}


# -- purge and user delete ----------------------------------------------------------------


def test_purge_json_and_plain_report_counts_and_remove_only_expired_rows(
    env: dict[str, str], database_url: str
) -> None:
    [(_, user_id)] = add_users(database_url, 1)
    past, future = int(time.time()) - 60, int(time.time()) + 3600
    expired_jti, live_jti = unique("jti"), unique("jti")
    expired_ia, live_ia = unique("ia"), unique("ia")

    async def setup(services: Services) -> None:
        store = services.store
        await store.revocations.revoke([(expired_jti, past), (live_jti, future)])
        for id_, expires_at in ((expired_ia, past), (live_ia, future)):
            await store.interactions.add(Interaction(id_, b"\0" * 32, "c", {}, expires_at))
        await store.sessions.add(id_hash=secrets.token_bytes(32), user_id=user_id, ttl=-60)

    with_services(database_url, setup)
    counts = one_json_document(ostiary(env, "purge", "--json"))
    assert set(counts) == {
        "authorization_codes",
        "refresh_tokens",
        "revoked_token_ids",
        "sessions",
        "interactions",
        "one_time_tokens",
        "throttles",
        "logout_failures",
        "audit_events",
    }
    assert all(isinstance(n, int) for n in counts.values())
    assert counts["revoked_token_ids"] >= 1
    assert counts["interactions"] >= 1
    assert counts["sessions"] >= 1
    jtis = "SELECT jti FROM revoked_tokens WHERE jti IN (:a, :b)"
    assert sql(database_url, jtis, a=expired_jti, b=live_jti) == [{"jti": live_jti}]
    ids = "SELECT id FROM interactions WHERE id IN (:a, :b)"
    assert sql(database_url, ids, a=expired_ia, b=live_ia) == [{"id": live_ia}]
    assert sql(database_url, "SELECT 1 FROM sessions WHERE user_id = :u", u=user_id) == []

    plain = ok(ostiary(env, "purge"))
    assert plain.stdout == ""
    for kind in counts:
        assert f"{kind}: " in plain.stderr


def test_user_delete_json_and_plain_removes_access_and_pseudonymises_audit(
    env: dict[str, str], database_url: str
) -> None:
    [(first, first_id), (second, second_id)] = add_users(database_url, 2)
    role = unique("member")

    async def setup(services: Services) -> None:
        access = services.store.access
        await access.create_role(role)
        await access.assign(first_id, role)
        group = await access.create_group(unique("club"))
        await access.add_member(group.id, first_id)
        await services.audit.record("test.seen", actor=f"user:{first_id}", user_id=first_id)

    with_services(database_url, setup)
    deleted, plain = ostiary_concurrently(
        env, ["user", "delete", first, "--json"], ["user", "delete", second_id]
    )
    assert one_json_document(deleted) == {
        "id": first_id,
        "username": first,
        "deleted": True,
        "sessions_ended": 0,
        "refresh_tokens_revoked": 0,
    }
    assert f"deleted {second}" in ok(plain).stderr

    for table in ("users WHERE id", "user_roles WHERE user_id", "group_members WHERE user_id"):
        rows = sql(database_url, f"SELECT 1 FROM {table} IN (:a, :b)", a=first_id, b=second_id)
        assert rows == [], table
    by_id = "SELECT type FROM audit_events WHERE user_id IN (:a, :b) OR actor LIKE :p"
    assert sql(database_url, by_id, a=first_id, b=second_id, p=f"%{first_id}%") == []
    stand_in = with_services(database_url, lambda s: _pseudonym(s, first_id))
    seen = "SELECT actor, user_id FROM audit_events WHERE type = 'test.seen' AND user_id = :p"
    assert sql(database_url, seen, p=stand_in) == [
        {"actor": f"user:{stand_in}", "user_id": stand_in}
    ]
    # The pseudonym is what `audit --user` takes for a deleted user.
    trail = one_json_document(ostiary(env, "audit", "--user", stand_in, "--json"))
    assert [(e["type"], e["actor"]) for e in trail] == [
        ("test.seen", f"user:{stand_in}"),
        ("user.deleted", "cli"),
    ]


async def _pseudonym(services: Services, user_id: str) -> str:
    return lifecycle.pseudonym(services, user_id)
