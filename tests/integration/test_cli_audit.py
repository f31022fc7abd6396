"""Every mutating command writes the audit event the admin API writes for the same
change, with the actor "cli", and ``ostiary audit --json`` shows it; no secret or password
reaches the trail. The commands run in this process (the command line's own entry point,
fast); the trail is read with the real executable."""

from __future__ import annotations

import io
import json
import os
import subprocess

import pytest

from ostiary.cli.main import main as cli_main
from tests.conftest import SECRET_KEY, unique
from tests.e2e.processes import OSTIARY, clean_env
from tests.integration.test_cli import sql

PASSWORD = "correct horse battery staple"
PROVIDER_SECRET = "upstream-secret-" + "x" * 24


def test_every_mutating_command_is_audited_as_the_admin_api_does(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = clean_env(OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY)
    for name in [n for n in os.environ if n.startswith("OSTIARY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OSTIARY_DATABASE_URL", database_url)
    monkeypatch.setenv("OSTIARY_SECRET_KEY", SECRET_KEY)
    last = sql(database_url, "SELECT max(id) AS last FROM audit_events")[0]["last"] or 0

    def cli(*args: str, stdin: str = "") -> str:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli_main(list(args))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    user, admin_name, role, group, scope, provider = (
        unique(p) for p in ("u", "root", "r", "g", "s", "idp")
    )
    client_id = json.loads(
        cli("client", "create", "--name", "audited", "--scope", "read", "--json")
    )["client_id"]
    expected: list[tuple[str, dict[str, str]]] = [("client.created", {"client_id": client_id})]
    steps: list[tuple[tuple[str, ...], str, str, str]] = [
        # (command, stdin, event type, what the event is about)
        (("client", "update", client_id, "--name", "renamed"), "", "client.updated", "client"),
        (
            ("user", "create", "--username", user, "--email", f"{user}@example.com"),
            "",
            "user.created",
            "user",
        ),
        (("user", "update", user, "--name", "Ann"), "", "user.updated", "user"),
        (("user", "set-password", user), PASSWORD + "\n", "user.password_set", "user"),
        (("user", "disable", user), "", "user.disabled", "user"),
        (("user", "enable", user), "", "user.enabled", "user"),
        (("role", "create", role), "", "role.created", ""),
        (("role", "assign", user, role), "", "role.assigned", "user"),
        (("role", "unassign", user, role), "", "role.unassigned", "user"),
        (("group", "create", group), "", "group.created", ""),
        (("group", "add-member", group, user), "", "group.member_added", ""),
        (("group", "grant-role", group, role), "", "group.role_granted", ""),
        (("scope", "create", scope, "--requires-role", role), "", "scope.created", ""),
        (
            (
                "provider",
                "add",
                "--name",
                provider,
                "--issuer",
                "https://idp.example.com",
                "--client-id",
                "c",
                "--client-secret-stdin",
            ),
            PROVIDER_SECRET + "\n",
            "provider.created",
            "",
        ),
        (
            ("provider", "update", provider, "--display-name", "IdP", "--client-secret-stdin"),
            PROVIDER_SECRET + "-2\n",
            "provider.updated",
            "",
        ),
        (("provider", "delete", provider), "", "provider.deleted", ""),
        (("keys", "rotate", "--alg", "ES256"), "", "key.rotated", ""),
        (("admin", "bootstrap", "--username", admin_name), PASSWORD + "\n", "admin.bootstrap", ""),
        # Deleting a client revokes its tokens first, as through the admin API.
        (("client", "delete", client_id), "", "client.tokens_revoked", "client"),
    ]
    for args, stdin, event, about in steps:
        cli(*args, stdin=stdin)
        expected.append((event, {"client_id": client_id} if about == "client" else {}))
    expected.append(("client.deleted", {"client_id": client_id}))

    # The trail, read by the real executable.
    read = subprocess.run(
        [str(OSTIARY), "audit", "--after", str(last), "--json", "--limit", "1000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert read.returncode == 0, read.stderr
    mine = [e for e in json.loads(read.stdout) if e["actor"] == "cli"]
    assert [e["type"] for e in mine] == [event for event, _ in expected]
    for event, (expected_type, fields) in zip(mine, expected, strict=True):
        for key, value in fields.items():
            assert event[key] == value, (expected_type, key, event)
    # Secrets and passwords never reach the trail; the secret change is said as a flag.
    assert PASSWORD not in read.stdout and PROVIDER_SECRET not in read.stdout
    by_type = {e["type"]: e for e in mine}
    updated = by_type["provider.updated"]
    assert updated["details"]["client_secret_changed"] is True
    assert updated["details"]["after"] == {"display_name": "IdP"}
    assert by_type["client.updated"]["details"] == {
        "before": {"client_name": "audited"},
        "after": {"client_name": "renamed"},
    }
    assert by_type["user.created"]["details"]["after"]["username"] == user
