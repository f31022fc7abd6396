"""Roles, groups, scopes, audit, purge, admin bootstrap and user delete on the command line.

Contract (docs/cli.md, docs/roles-and-scopes.md): the real ``ostiary`` executable;
``--json`` prints exactly one JSON document on stdout, and without it people read what
happened on stderr (lists print a table on stdout); an unknown user, role or group, a
duplicate name or a nesting cycle exits 1 with a reason on stderr and changes nothing;
changes made here are audited with actor "cli".

Each spawn of ``ostiary`` costs almost a second of CPU, so: the ``--json`` tests, which
exercise storage, run on SQLite and PostgreSQL; plain output and argument errors, which do
not depend on the backend, are checked once, in one batch on a fresh SQLite database;
independent commands run side by side and setup goes straight to the store.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ostiary.accounts import lifecycle
from ostiary.domain.audit import AuditEvent
from ostiary.domain.interactions import Interaction
from ostiary.services import Services, build_services
from tests import databases
from tests.conftest import SECRET_KEY, LiveServer, server_settings, unique
from tests.e2e.helpers import PASSWORD
from tests.e2e.processes import clean_env
from tests.integration.test_cli import (
    Result,
    failed,
    ok,
    one_json_document,
    ostiary,
    ostiary_concurrently,
    sql,
)

T = TypeVar("T")
PURGED_KINDS = {
    "authorization_codes",
    "refresh_tokens",
    "revoked_token_ids",
    "revocation_events",
    "sessions",
    "interactions",
    "one_time_tokens",
    "used_jtis",
    "pushed_authorizations",
    "unconfirmed_factors",
    "throttles",
    "rate_limit_counters",
    "federation_states",
    "logout_failures",
    "audit_events",
}


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
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


async def new_user(services: Services) -> tuple[str, str]:
    user = await services.store.users.add(username=unique("rbac"), email=None, password_hash=None)
    return user.username, user.id


def add_users(database_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` new users as (username, id)."""

    async def work(services: Services) -> list[tuple[str, str]]:
        return [await new_user(services) for _ in range(count)]

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


def test_role_json_create_list_assign_unassign_delete_duplicate_audited_as_cli(
    env: dict[str, str], database_url: str
) -> None:
    [(username, user_id)] = add_users(database_url, 1)
    role = unique("editor")

    created = ostiary(env, "role", "create", role, "--description", "edits pages", "--json")
    doc = one_json_document(created)
    assert doc["name"] == role and doc["description"] == "edits pages"
    assert isinstance(doc["created_at"], int)

    dup, listed, assigned = ostiary_concurrently(
        env,
        ["role", "create", role, "--json"],
        ["role", "list", "--json"],
        ["role", "assign", username, role, "--json"],
    )
    failed(dup, f"role {role!r} exists")
    assert [r for r in one_json_document(listed) if r["name"] == role] == [doc]
    link = {"user_id": user_id, "username": username, "role": role}
    assert one_json_document(assigned) == {**link, "assigned": True}
    held = "SELECT role FROM user_roles WHERE user_id = :u"
    assert sql(database_url, held, u=user_id) == [{"role": role}]

    unassigned = one_json_document(ostiary(env, "role", "unassign", user_id, role, "--json"))
    assert unassigned == {**link, "unassigned": True}
    assert sql(database_url, held, u=user_id) == []
    assert one_json_document(ostiary(env, "role", "delete", role, "--json")) == {
        "name": role,
        "deleted": True,
    }
    assert sql(database_url, "SELECT name FROM roles WHERE name = :r", r=role) == []

    audited = [
        (kind, e["actor"], e["user_id"])
        for kind in ("role.created", "role.assigned", "role.unassigned", "role.deleted")
        for e in cli_events(database_url, kind)
        if details_of(e).get("role") == role
    ]
    # Each change is audited once, with actor "cli"; the refused duplicate is not.
    assert audited == [
        ("role.created", "cli", None),
        ("role.assigned", "cli", user_id),
        ("role.unassigned", "cli", user_id),
        ("role.deleted", "cli", None),
    ]


# -- scopes -------------------------------------------------------------------------------


def test_scope_json_create_update_list_delete_fail_closed_while_gated(
    env: dict[str, str], database_url: str
) -> None:
    """A gate is never dropped by accident: neither a role that gates a scope nor a gated
    scope (an unregistered scope is open to every user) can be deleted until the scope's
    roles are changed."""
    role, spare, gated = unique("auditor"), unique("spare"), unique("reports:read")

    async def setup(services: Services) -> None:
        await services.store.access.create_role(role)
        await services.store.access.create_role(spare)

    with_services(database_url, setup)
    created = ostiary(
        env, "scope", "create", gated, "--requires-role", role, "--requires-role", spare,
        "--description", "reports", "--json",
    )  # fmt: skip
    doc = one_json_document(created)
    assert doc["name"] == gated
    assert doc["required_roles"] == sorted([role, spare])
    assert doc["description"] == "reports"

    dup, listed, role_refused, scope_refused = ostiary_concurrently(
        env,
        ["scope", "create", gated, "--json"],
        ["scope", "list", "--json"],
        ["role", "delete", spare, "--json"],
        ["scope", "delete", gated, "--json"],
    )
    failed(dup, f"scope {gated!r} exists")
    assert [s for s in one_json_document(listed) if s["name"] == gated] == [doc]
    failed(role_refused, "gates scope(s)", gated)
    failed(scope_refused, "is gated by", "--open")
    gating = "SELECT role FROM scope_roles WHERE scope = :s ORDER BY role"
    assert sql(database_url, gating, s=gated) == [{"role": r} for r in sorted([role, spare])]

    narrowed = one_json_document(
        ostiary(env, "scope", "update", gated, "--requires-role", role, "--description",
                "payslips", "--json")
    )  # fmt: skip
    assert narrowed == {**doc, "required_roles": [role], "description": "payslips"}
    assert one_json_document(ostiary(env, "role", "delete", spare, "--json")) == {
        "name": spare,
        "deleted": True,
    }
    opened = one_json_document(ostiary(env, "scope", "update", gated, "--open", "--json"))
    assert opened["required_roles"] == []
    deleted, role_deleted = ostiary_concurrently(
        env, ["scope", "delete", gated, "--json"], ["role", "delete", role, "--json"]
    )
    assert one_json_document(deleted) == {"name": gated, "deleted": True}
    assert one_json_document(role_deleted)["deleted"] is True
    assert sql(database_url, "SELECT name FROM scopes WHERE name = :s", s=gated) == []
    audited = [
        (kind, e["actor"])
        for kind in ("scope.created", "scope.updated", "scope.deleted")
        for e in cli_events(database_url, kind)
        if details_of(e).get("scope") == gated
    ]
    assert audited == [
        ("scope.created", "cli"),
        ("scope.updated", "cli"),
        ("scope.updated", "cli"),
        ("scope.deleted", "cli"),
    ]


# -- groups -------------------------------------------------------------------------------


def test_group_json_members_roles_nesting_refuses_cycles_show_list_delete(
    env: dict[str, str], database_url: str
) -> None:
    [(username, user_id)] = add_users(database_url, 1)
    role = unique("ops")
    team, dept, org = unique("team"), unique("dept"), unique("org")
    with_services(database_url, lambda s: s.store.access.create_role(role))

    docs = ostiary_concurrently(env, *(["group", "create", g, "--json"] for g in (team, dept, org)))
    team_doc, dept_doc, org_doc = map(one_json_document, docs)
    assert team_doc["name"] == team and team_doc["external_id"] is None
    assert isinstance(team_doc["id"], str) and team_doc["created_at"] == team_doc["updated_at"]

    added, granted, nested, nested_by_id = ostiary_concurrently(
        env,
        ["group", "add-member", team, username, "--json"],
        ["group", "grant-role", org, role, "--json"],
        ["group", "nest", team, dept, "--json"],
        ["group", "nest", dept_doc["id"], org_doc["id"], "--json"],
    )
    assert one_json_document(added) == {
        "group": team,
        "group_id": team_doc["id"],
        "user_id": user_id,
        "username": username,
        "added": True,
    }
    assert one_json_document(granted) == {
        "group": org,
        "group_id": org_doc["id"],
        "role": role,
        "granted": True,
    }
    assert one_json_document(nested) == {
        "child": team,
        "child_id": team_doc["id"],
        "parent": dept,
        "parent_id": dept_doc["id"],
        "nested": True,
    }
    assert one_json_document(nested_by_id)["parent"] == org

    cycle, shown, listed = ostiary_concurrently(
        env,
        ["group", "nest", org, team, "--json"],  # team ⊂ dept ⊂ org: org inside team
        ["group", "show", team, "--json"],
        ["group", "list", "--json"],
    )
    failed(cycle, "cycle")
    parents = "SELECT child_id FROM group_parents WHERE parent_id = :p"
    assert sql(database_url, parents, p=team_doc["id"]) == [], "a refused nesting adds nothing"
    assert one_json_document(shown) == {
        **team_doc,
        "members": [{"id": user_id, "username": username}],
        "roles": [],
        "parents": [dept],
        "children": [],
    }
    assert [g for g in one_json_document(listed) if g["name"] in (team, dept, org)] == sorted(
        [team_doc, dept_doc, org_doc], key=lambda g: g["name"]
    )

    async def effective(services: Services) -> tuple[frozenset[str], frozenset[str]]:
        found = await services.store.access.effective(user_id)
        return found.roles, found.groups

    # The member of team holds org's role through two levels of nesting.
    assert with_services(database_url, effective) == ({role}, {team, dept, org})

    removed, revoked, deleted = ostiary_concurrently(
        env,
        ["group", "remove-member", team, username, "--json"],
        ["group", "revoke-role", org, role, "--json"],
        ["group", "delete", dept, "--json"],
    )
    assert one_json_document(removed)["removed"] is True
    assert one_json_document(revoked)["revoked"] is True
    assert one_json_document(deleted) == {"id": dept_doc["id"], "name": dept, "deleted": True}
    assert with_services(database_url, effective) == (set(), set())
    assert sql(database_url, parents, p=dept_doc["id"]) == [], "nesting goes with the group"
    kinds = ["group.created", "group.member_added", "group.member_removed", "group.role_granted",
             "group.role_revoked", "group.nested", "group.deleted"]  # fmt: skip
    for kind in kinds:
        actors = [
            e["actor"]
            for e in cli_events(database_url, kind)
            if details_of(e).get("group_id") in (team_doc["id"], dept_doc["id"], org_doc["id"])
        ]
        assert actors and set(actors) == {"cli"}, kind


def test_group_nest_refuses_a_cycle_closing_a_chain_longer_than_16(
    env: dict[str, str], database_url: str
) -> None:
    """Cycle detection follows the whole chain, however deep."""
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
    failed(ostiary(env, *boot, stdin="another password\n"), f"user {username!r} exists already")
    assert sql(database_url, clients) == before, "a refused bootstrap registers no client"


# -- audit --------------------------------------------------------------------------------


def test_audit_json_filters_user_since_type_client_limit_and_jsonl_exports_every_page(
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
        # more than two pages (500 each) of the --jsonl export
        *(AuditEvent(type=bulk, actor="system", details={"n": n}) for n in range(1203)),
    ]
    with_services(database_url, lambda s: s.store.audit.add_many(events))

    by_user, since_and_type, by_client, exported = ostiary_concurrently(
        env,
        ["audit", "--user", username, "--json"],
        ["audit", "--user", user_id, "--since", "2020-01-01", "--type", new_type, "--json"],
        ["audit", "--client", client_id, "--limit", "1", "--json"],
        ["audit", "--type", bulk, "--jsonl"],
    )

    def summary(result: Result) -> list[tuple[str, str | None, str | None]]:
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

    # --jsonl: every match, one JSON object per line, in order, across three pages.
    rows = [json.loads(line) for line in ok(exported).stdout.splitlines()]
    assert [r["details"]["n"] for r in rows] == list(range(1203))
    assert len({r["id"] for r in rows}) == 1203
    assert {r["type"] for r in rows} == {bulk}


# -- purge and user delete ----------------------------------------------------------------


def test_purge_json_counts_and_removes_only_expired_rows(
    env: dict[str, str], database_url: str
) -> None:
    """The kinds in detail: tests/integration/test_retention.py."""
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
    assert set(counts) == PURGED_KINDS
    assert all(isinstance(n, int) for n in counts.values())
    assert counts["revoked_token_ids"] >= 1
    assert counts["interactions"] >= 1
    assert counts["sessions"] >= 1
    jtis = "SELECT jti FROM revoked_tokens WHERE jti IN (:a, :b)"
    assert sql(database_url, jtis, a=expired_jti, b=live_jti) == [{"jti": live_jti}]
    ids = "SELECT id FROM interactions WHERE id IN (:a, :b)"
    assert sql(database_url, ids, a=expired_ia, b=live_ia) == [{"id": live_ia}]
    assert sql(database_url, "SELECT 1 FROM sessions WHERE user_id = :u", u=user_id) == []


def test_user_delete_json_removes_access_and_audit_user_finds_the_pseudonym(
    env: dict[str, str], database_url: str
) -> None:
    [(username, user_id)] = add_users(database_url, 1)

    async def setup(services: Services) -> None:
        access = services.store.access
        role = await access.create_role(unique("member"))
        await access.assign(user_id, role.name)
        group = await access.create_group(unique("club"))
        await access.add_member(group.id, user_id)
        await services.audit.record("test.seen", actor=f"user:{user_id}", user_id=user_id)

    with_services(database_url, setup)
    deleted = one_json_document(ostiary(env, "user", "delete", username, "--json"))
    assert deleted == {
        "id": user_id,
        "username": username,
        "deleted": True,
        "sessions_ended": 0,
        "refresh_tokens_revoked": 0,
    }
    for table in ("users WHERE id", "user_roles WHERE user_id", "group_members WHERE user_id"):
        assert sql(database_url, f"SELECT 1 FROM {table} = :u", u=user_id) == [], table
    by_id = "SELECT type FROM audit_events WHERE user_id = :u OR actor LIKE :p"
    assert sql(database_url, by_id, u=user_id, p=f"%{user_id}%") == []

    # The pseudonym is what `audit --user` takes for a deleted user.
    stand_in = with_services(database_url, lambda s: _pseudonym(s, user_id))
    trail = one_json_document(ostiary(env, "audit", "--user", stand_in, "--json"))
    assert [(e["type"], e["actor"]) for e in trail] == [
        ("test.seen", f"user:{stand_in}"),
        ("user.deleted", "cli"),
    ]


async def _pseudonym(services: Services, user_id: str) -> str:
    return lifecycle.pseudonym(services, user_id)


# -- plain output and argument errors (once, on SQLite) -----------------------------------


@pytest.fixture
def plain_env(tmp_path: Path) -> tuple[dict[str, str], str]:
    url = databases.create("sqlite", tmp_path)
    return clean_env(OSTIARY_DATABASE_URL=url, OSTIARY_SECRET_KEY=SECRET_KEY), url


def run_batch(env: dict[str, str], commands: dict[str, Sequence[str]]) -> dict[str, Result]:
    """Independent commands at once, a few at a time; results by name."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda args: ostiary(env, *args), commands.values())
        return dict(zip(commands, results, strict=True))


def test_plain_output_of_every_command_and_errors_for_unknown_names(
    plain_env: tuple[dict[str, str], str],
) -> None:
    env, url = plain_env
    names = {k: unique(k) for k in ("r0", "r-old", "r-held", "r-kept", "g1", "g2", "g3", "g4",
                                    "g5", "s0", "s-old", "s-gated", "t", "new-role", "new-group",
                                    "new-scope")}  # fmt: skip
    recently = int(time.time()) - 60

    async def setup(services: Services) -> dict[str, tuple[str, str]]:
        access = services.store.access
        users = {"alice": await new_user(services), "bob": await new_user(services)}
        alice = users["alice"][1]
        for role in ("r0", "r-old", "r-held", "r-kept"):
            await access.create_role(names[role])
        await access.assign(alice, names["r-held"])
        await access.assign(alice, names["r-kept"])
        g = {k: await access.create_group(names[k]) for k in ("g1", "g2", "g3", "g4", "g5")}
        await access.add_member(g["g4"].id, alice)
        await access.grant_group_role(g["g4"].id, names["r0"])
        await access.nest(g["g4"].id, g["g2"].id)
        await access.add_member(g["g2"].id, alice)
        await access.grant_group_role(g["g2"].id, names["r0"])
        await access.create_scope(names["s0"], required_roles=[names["r0"]])
        await access.create_scope(names["s-old"])
        await access.create_scope(names["s-gated"], required_roles=[names["r0"]])
        await services.store.audit.add_many(
            [AuditEvent(type=names["t"], actor="system", at=recently + n) for n in (0, 1)]
        )
        return users

    users = with_services(url, setup)
    (alice, _), (bob, _) = users["alice"], users["bob"]
    r0 = names["r0"]
    results = run_batch(
        env,
        {
            "role create": ["role", "create", names["new-role"]],
            "role list": ["role", "list"],
            "role assign": ["role", "assign", alice, names["r0"]],
            "role assign again": ["role", "assign", alice, names["r-kept"]],
            "role unassign": ["role", "unassign", alice, names["r-held"]],
            "role delete": ["role", "delete", names["r-old"]],
            "group create": ["group", "create", names["new-group"]],
            "group list": ["group", "list"],
            "group show": ["group", "show", names["g2"]],
            "group add-member": ["group", "add-member", names["g1"], alice],
            "group remove-member": ["group", "remove-member", names["g4"], alice],
            "group grant-role": ["group", "grant-role", names["g1"], names["r0"]],
            "group revoke-role": ["group", "revoke-role", names["g4"], names["r0"]],
            "group nest": ["group", "nest", names["g1"], names["g3"]],
            "group unnest": ["group", "unnest", names["g4"], names["g2"]],
            "group delete": ["group", "delete", names["g5"]],
            "scope create": ["scope", "create", names["new-scope"], "--requires-role", r0],
            "scope list": ["scope", "list"],
            "scope delete": ["scope", "delete", names["s-old"]],
            "scope update": ["scope", "update", names["s-gated"], "--open"],
            "admin scope": ["scope", "update", "ostiary:admin", "--open"],
            "audit": ["audit", "--type", names["t"]],
            "purge": ["purge"],
            "user delete": ["user", "delete", bob],
            # errors
            "unknown user": ["role", "assign", unique("nobody"), names["r0"]],
            "unknown role": ["group", "grant-role", names["g1"], unique("no-such-role")],
            "unknown group": ["group", "add-member", unique("no-such-group"), alice],
            "unknown scope": ["scope", "delete", unique("no-such-scope")],
            "scope-token": ["scope", "create", 'say "hi"'],
            "gating role": ["scope", "create", unique("x"), "--requires-role", unique("nope")],
            "audit user": ["audit", "--user", unique("nobody")],
            "audit since": ["audit", "--since", "last tuesday"],
            "self nesting": ["group", "nest", names["g1"], names["g1"]],
        },
    )

    def said(name: str, *phrases: str) -> None:
        result = ok(results[name])
        assert result.stdout == "", f"{name}: without --json, messages go to stderr"
        for phrase in phrases:
            assert phrase in result.stderr, (name, result.stderr)

    def printed(name: str) -> list[list[str]]:
        """A table on stdout: the header, then rows split on whitespace."""
        lines = ok(results[name]).stdout.splitlines()
        return [line.split() for line in lines]

    said("role create", f"created role {names['new-role']}")
    said("role assign", f"assigned role {names['r0']} to {alice}")
    said("role assign again", f"{alice} has role {names['r-kept']} already")
    said("role unassign", f"took role {names['r-held']} from {alice}")
    said("role delete", f"deleted role {names['r-old']}")
    said("group create", f"created group {names['new-group']}")
    said("group add-member", f"added {alice} to group {names['g1']}")
    said("group remove-member", f"removed {alice} from group {names['g4']}")
    said("group grant-role", f"granted role {names['r0']} to group {names['g1']}")
    said("group revoke-role", f"revoked role {names['r0']} from group {names['g4']}")
    said("group nest", f"group {names['g1']} is now inside group {names['g3']}")
    said("group delete", f"deleted group {names['g5']}")
    said("group unnest", f"group {names['g4']} is no longer inside group {names['g2']}")
    said("scope create", f"created scope {names['new-scope']}, for holders of {names['r0']}")
    said("scope delete", f"deleted scope {names['s-old']}")
    said("scope update", f"updated scope {names['s-gated']}: open to every user")
    said("purge", *(f"{kind}: " for kind in PURGED_KINDS))
    said("user delete", f"deleted {bob}")

    roles = printed("role list")
    assert roles[0] == ["NAME", "REQUIRE_MFA", "DESCRIPTION"] and [names["r0"], "False"] in roles
    groups = printed("group list")
    assert groups[0] == ["ID", "NAME", "REQUIRE_MFA", "EXTERNAL_ID"]
    assert any(names["g2"] in row for row in groups)
    shown = ok(results["group show"]).stdout
    assert f"name: {names['g2']}" in shown
    assert f"roles: {names['r0']}" in shown
    assert f"members: {alice}" in shown
    scopes = printed("scope list")
    assert scopes[0] == ["NAME", "REQUIRED_ROLES", "DESCRIPTION"]
    assert [names["s0"], names["r0"]] in scopes
    events = printed("audit")
    assert events[0][:3] == ["ID", "AT", "TYPE"]
    assert [row[1:3] for row in events[1:]] == [
        [datetime.fromtimestamp(recently + n, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), names["t"]]
        for n in (0, 1)
    ]

    failed(results["unknown user"], "no user")
    failed(results["unknown role"], "no role")
    failed(results["unknown group"], "no group")
    failed(results["unknown scope"], "no scope")
    failed(results["scope-token"], "RFC 6749 §3.3")
    failed(results["gating role"], "no role")
    failed(results["audit user"], "no user")
    failed(results["audit since"], "--since", "ISO 8601")
    failed(results["self nesting"], "cycle")
    failed(results["admin scope"], "must stay gated")
