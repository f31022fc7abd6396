"""``ostiary provider add | list | show | update | delete``, run as the real executable.

Contract (docs/cli.md, docs/federation.md): the client secret is read from stdin only,
stored sealed and never printed; ``show --json`` includes the exact ``redirect_uri`` to
register at the provider; failures exit 1 with the reason on stderr.
"""

from __future__ import annotations

import pytest

from ostiary.federation.sealing import client_secrets
from ostiary.settings import load_settings
from tests.conftest import SECRET_KEY, unique
from tests.e2e.processes import clean_env
from tests.integration.test_cli import failed, ok, one_json_document, ostiary, sql

ISSUER = "https://id.example.com"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return clean_env(
        OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY, OSTIARY_ISSUER=ISSUER
    )


def _secret(database_url: str, name: str) -> str | None:
    """The stored secret, unsealed with the key derived from OSTIARY_SECRET_KEY."""
    sealed = _sealed(database_url, name)
    sealer = client_secrets(load_settings(database_url=database_url, secret_key=SECRET_KEY))
    return sealer.unseal(sealed).decode() if sealed is not None else None


def _sealed(database_url: str, name: str) -> bytes | None:
    rows = sql(
        database_url,
        "SELECT client_secret_sealed FROM federation_providers WHERE name = :name",
        name=name,
    )
    assert len(rows) == 1
    value = rows[0]["client_secret_sealed"]
    return bytes(value) if value is not None else None


def test_provider_lifecycle_with_secret_from_stdin(env: dict[str, str], database_url: str) -> None:
    name = unique("corp").lower()
    secret = "s3cret-" + unique("x")
    added = ostiary(
        env,
        "provider",
        "add",
        "--name",
        name,
        "--issuer",
        "https://login.corp.example",
        "--client-id",
        "ostiary",
        "--client-secret-stdin",
        "--display-name",
        "Corp SSO",
        "--map",
        'groups contains "admins" -> role admin',
        "--json",
        stdin=secret + "\n",
    )
    view = one_json_document(added)
    assert secret not in added.stdout + added.stderr
    assert view["redirect_uri"] == f"{ISSUER}/federation/{name}/callback"
    assert view["client_secret_set"] is True
    assert view["display_name"] == "Corp SSO" and view["preset"] == "oidc"
    assert view["scopes"] == ["openid", "email", "profile"]
    assert view["mapping"] == ['groups contains "admins" -> role admin']
    sealed = _sealed(database_url, name)
    assert sealed is not None and secret.encode() not in sealed
    assert _secret(database_url, name) == secret

    shown = ostiary(env, "provider", "show", name, "--json")
    assert one_json_document(shown) == view
    listed = one_json_document(ostiary(env, "provider", "list", "--json"))
    assert view in listed
    table = ok(ostiary(env, "provider", "list"))
    assert name in table.stdout and "https://login.corp.example" in table.stdout
    human = ok(ostiary(env, "provider", "show", name))
    assert f"redirect_uri: {ISSUER}/federation/{name}/callback" in human.stderr
    assert secret not in human.stdout + human.stderr

    updated = one_json_document(
        ostiary(
            env,
            "provider",
            "update",
            name,
            "--display-name",
            "Corp",
            "--scope",
            "openid email",
            "--no-enabled",
            "--trust-email",
            "--provisioning",
            "existing",
            "--json",
        )
    )
    assert updated["display_name"] == "Corp" and updated["enabled"] is False
    assert updated["scopes"] == ["openid", "email"] and updated["trust_email"] is True
    assert updated["provisioning"] == "existing"
    assert updated["mapping"] == view["mapping"]  # untouched options stay
    assert _secret(database_url, name) == secret  # no new secret given: the old one stays

    rotated = ostiary(env, "provider", "update", name, "--client-secret-stdin", stdin="new-one\n")
    ok(rotated)
    assert "updated provider" in rotated.stderr and rotated.stdout == ""
    assert _secret(database_url, name) == "new-one"

    deleted = one_json_document(ostiary(env, "provider", "delete", name, "--json"))
    assert deleted == {"name": name, "deleted": True}
    failed(ostiary(env, "provider", "show", name), f"no provider {name!r}")
    failed(ostiary(env, "provider", "delete", name), f"no provider {name!r}")
    failed(ostiary(env, "provider", "update", name, "--display-name", "x"), "no provider")


def test_presets_carry_their_defaults_and_options(env: dict[str, str]) -> None:
    github = unique("gh").lower()
    view = one_json_document(
        ostiary(
            env,
            "provider",
            "add",
            "--name",
            github,
            "--preset",
            "github",
            "--issuer",
            "https://github.com",
            "--client-id",
            "Iv1.abc",
            "--client-secret-stdin",
            "--json",
            stdin="gh-secret\n",
        )
    )
    assert view["preset"] == "github" and view["scopes"] == ["read:user", "user:email"]
    entra = unique("entra").lower()
    view = one_json_document(
        ostiary(
            env,
            "provider",
            "add",
            "--name",
            entra,
            "--preset",
            "entra",
            "--issuer",
            "https://login.microsoftonline.com/organizations/v2.0",
            "--client-id",
            "app-id",
            "--option",
            f'tenants=["{TENANT}"]',
            "--json",
        )
    )
    assert view["options"] == {"tenants": [TENANT]} and view["client_secret_set"] is False
    for name in (github, entra):
        ok(ostiary(env, "provider", "delete", name))


def _add(*extra: str) -> list[str]:
    return [
        "provider",
        "add",
        "--name",
        unique("p").lower(),
        "--client-id",
        "cid",
        "--client-secret-stdin",
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "stdin", "phrase"),
    [
        (["--issuer", "http://login.corp.example"], "s\n", "issuer: must be an https URL"),
        (["--issuer", "https://user:pw@login.corp.example"], "s\n", "must not contain credentials"),
        (["--issuer", "https://login.corp.example"], "", "no client secret on standard input"),
        (
            ["--issuer", "https://login.corp.example", "--map", "groups has x -> role y"],
            "s\n",
            "expected one of",
        ),
        (
            ["--issuer", "https://login.corp.example", "--scope", "openid bad\\scope"],
            "s\n",
            "is not a valid scope token",
        ),
        (
            ["--issuer", "https://github.com", "--preset", "github", "--scope", "openid"],
            "s\n",
            "GitHub is not an OpenID Provider",
        ),
        (
            ["--issuer", "https://login.microsoftonline.com/common/v2.0", "--preset", "entra"],
            "s\n",
            "needs the allow-list of tenant ids",
        ),
        (
            ["--issuer", "https://login.corp.example", "--option", "no-equals-sign"],
            "s\n",
            "expected KEY=VALUE",
        ),
    ],
)
def test_bad_input_exits_1_with_the_reason(
    env: dict[str, str], extra: list[str], stdin: str, phrase: str
) -> None:
    failed(ostiary(env, *_add(*extra), stdin=stdin), phrase)


def test_bad_name_and_duplicate_name(env: dict[str, str]) -> None:
    args = [
        "provider",
        "add",
        "--issuer",
        "https://login.corp.example",
        "--client-id",
        "cid",
    ]
    failed(ostiary(env, *args, "--name", "Not Valid"), "name: 1 to 63 lowercase")
    name = unique("dup").lower()
    ok(ostiary(env, *args, "--name", name))
    failed(ostiary(env, *args, "--name", name), "already exists")
    ok(ostiary(env, "provider", "delete", name))


def test_unknown_preset_is_a_usage_error(env: dict[str, str]) -> None:
    result = ostiary(
        env,
        "provider",
        "add",
        "--name",
        "x",
        "--issuer",
        ISSUER,
        "--client-id",
        "c",
        "--preset",
        "myspace",
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "invalid choice: 'myspace'" in result.stderr
