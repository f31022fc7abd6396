"""``ostiary export`` / ``ostiary import``, run as the real executable on SQLite and
PostgreSQL: a realistic population survives export -> fresh database -> import -> export
byte for byte, applying twice changes nothing, a dry run and an invalid file write nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ostiary.crypto.tokens import digest
from ostiary.federation.providers import Provider
from ostiary.oauth.registration import ClientSpec, register
from ostiary.portable.apply import Stopped, apply, execute, plan
from ostiary.portable.document import InvalidDocument, dumps, parse
from ostiary.portable.export import export as portable_export
from ostiary.portable.plan import Change
from ostiary.portable.snapshot import providers
from ostiary.services import Services, build_services
from ostiary.settings import load_settings
from ostiary.storage.repos.federation_identities import FederationRepository
from tests import databases
from tests.conftest import SECRET_KEY
from tests.databases import BACKENDS
from tests.e2e.processes import OSTIARY, clean_env
from tests.integration.test_cli import Result, failed, ok, sql

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
OTHER_KEY = "another-secret-key-" + "y" * 32


@pytest.fixture(params=BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh, migrated databases on one backend; all dropped at the end."""
    urls: list[str] = []

    def make() -> str:
        urls.append(databases.create(request.param, tmp_path))
        return urls[-1]

    yield make
    for url in urls:
        databases.drop(url)


def ostiary(env: dict[str, str], *args: str, stdin: str = "") -> Result:
    """The real executable; a generous timeout, as the suite may share two busy cores."""
    return subprocess.run(
        [str(OSTIARY), *args], env=env, input=stdin, capture_output=True, text=True, timeout=300
    )


def env_for(url: str, key: str = SECRET_KEY) -> dict[str, str]:
    return clean_env(OSTIARY_DATABASE_URL=url, OSTIARY_SECRET_KEY=key)


def on(url: str, work: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        services = build_services(load_settings(database_url=url, secret_key=SECRET_KEY))
        try:
            return await work(services)
        finally:
            await services.close()

    return asyncio.run(run())


async def populate(services: Services) -> dict[str, str]:
    """Clients of each kind, gated and open scopes, nested groups with roles, an upstream
    provider with a secret and mapping rules, users with passwords, profiles, roles,
    groups and linked identities. Returns the client secrets."""
    access = services.store.access
    for name, text in (("admin", "administers Ostiary"), ("dev", "writes code"), ("auditor", "")):
        await access.create_role(name, text)
    await access.create_scope("orders:read", description="read", required_roles=["dev", "auditor"])
    await access.create_scope("orders:write", required_roles=["dev"])
    await access.create_scope("newsletter", description="open to everyone")
    specs = [
        ClientSpec(
            name="Web shop",
            client_id="web",
            redirect_uris=["https://shop.example.com/cb", "http://127.0.0.1:8000/cb"],
            grant_types=[],
            scopes=["openid", "orders:read", "offline_access"],
            audience=["https://api.example.com"],
            first_party=True,
            access_token_ttl=600,
            refresh_token_ttl=86400,
            post_logout_redirect_uris=["https://shop.example.com/bye"],
            backchannel_logout_uri="https://shop.example.com/logout",
            backchannel_logout_session_required=True,
            id_token_signed_response_alg="ES256",
            id_token_ttl=300,
            include_roles=True,
            include_groups=True,
        ),
        ClientSpec(
            name="Batch job",
            client_id="batch",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scopes=["orders:write"],
            auth_method="client_secret_post",
        ),
        ClientSpec(
            name="Single-page app",
            client_id="spa",
            redirect_uris=["http://127.0.0.1:5173/cb"],
            grant_types=[],
            scopes=["openid"],
            public=True,
            session_refresh_tokens=True,
        ),
    ]
    secrets = {}
    for spec in specs:
        client, secret = await register(services.store.clients, spec)
        if secret:
            secrets[client.client_id] = secret
    groups = {}
    for name in ("all", "staff", "eng", "ops"):
        groups[name] = await access.create_group(name, "ext-eng" if name == "eng" else None)
    await access.nest(groups["staff"].id, groups["all"].id)
    await access.nest(groups["eng"].id, groups["staff"].id)
    await access.nest(groups["ops"].id, groups["all"].id)
    await access.grant_group_role(groups["eng"].id, "dev")
    await access.grant_group_role(groups["staff"].id, "auditor")
    repo = providers(services)
    await repo.add(
        Provider(
            name="corp",
            display_name="Corp SSO",
            preset="oidc",
            issuer="https://idp.example.com",
            client_id="ostiary",
            client_secret="upstream-secret",
            scopes=("openid", "email", "profile", "groups"),
            provisioning="existing",
            trust_email=True,
            mapping=('groups contains "admins" -> role admin',),
            options={"token_endpoint_auth_method": "client_secret_post"},
        )
    )
    await repo.add(
        Provider(
            name="gh",
            display_name="GitHub",
            preset="github",
            issuer="https://github.com",
            client_id="Iv1.abc",
            client_secret=None,
            scopes=("read:user", "user:email"),
            enabled=False,
        )
    )
    users = services.store.users
    alice = await users.add(
        username="alice",
        email="alice@example.com",
        password_hash=await services.passwords.hash(PASSWORD),
        email_verified=True,
        phone_number="+1 555 0100",
        profile={"name": "Alice Liddell", "given_name": "Alice", "address": {"country": "UK"}},
    )
    bob = await users.add(
        username="bob", email=None, password_hash=await services.passwords.hash(PASSWORD)
    )
    carol = await users.add(username="carol", email="carol@example.com", password_hash=None)
    await access.assign(alice.id, "admin")
    await access.add_member(groups["eng"].id, alice.id)
    await access.add_member(groups["ops"].id, bob.id)
    await users.set_disabled(bob.id, True)
    links = FederationRepository(services.engine)
    await links.link("corp", "sub-alice", alice.id, "alice@corp.example")
    await links.link("corp", "sub-carol", carol.id, None)
    # Given by a claim mapping at an upstream login: not configuration, never exported.
    await links.apply_mapping(carol.id, "corp", {"dev"}, {"ops"})
    return secrets


def export(env: dict[str, str], *extra: str) -> str:
    """The real command; tests that only need the state read it in process (``state_of``)."""
    return ok(ostiary(env, "export", *extra)).stdout


def state_of(url: str, *, users: bool = True) -> str:
    async def read(services: Services) -> str:
        return dumps(await portable_export(services, include_users=users)).decode()

    return on(url, read)


def audit_events(url: str) -> list[dict[str, Any]]:
    rows = sql(url, "SELECT type, actor, details FROM audit_events ORDER BY id")
    for row in rows:
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return rows


def test_export_fresh_database_import_export_is_byte_identical(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source, target = new_database(), new_database()
    secrets = on(source, populate)
    first = export(env_for(source), "--include-users")
    document = json.loads(first)
    assert document["format"] == "ostiary-state" and document["version"] == 1
    assert [c["client_id"] for c in document["clients"]] == ["batch", "spa", "web"]
    carol = next(u for u in document["users"] if u["username"] == "carol")
    assert carol["roles"] == [] and carol["groups"] == [], "mapping-given access is not config"
    assert "upstream-secret" not in first and "ost_cs_" not in first
    for secret in secrets.values():
        assert secret not in first

    state = tmp_path / "state.json"
    state.write_text(first)
    applied = ok(ostiary(env_for(target), "import", str(state)))
    assert "created client web" in applied.stderr
    assert "created user alice" in applied.stderr
    again = export(env_for(target), "--include-users")
    assert again == first

    async def check(services: Services) -> None:
        # The secrets the clients and the upstream hold still work after the move.
        for client_id, secret in secrets.items():
            client = await services.store.clients.get(client_id)
            assert client is not None and client.secret_hash == digest(secret)
        corp = await providers(services).get("corp")
        assert corp is not None and corp.client_secret == "upstream-secret"
        alice = await services.store.users.by_username("alice")
        assert alice is not None and alice.id == document["users"][0]["id"]
        assert await services.passwords.verify(alice.password_hash, PASSWORD)

    on(target, check)


def test_import_twice_changes_nothing_the_second_time(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source, target = new_database(), new_database()
    on(source, populate)
    state = tmp_path / "state.json"
    state.write_text(state_of(source))
    first = json.loads(ok(ostiary(env_for(target), "import", str(state), "--json")).stdout)
    assert first["changed"] == len(first["changes"]) > 20
    events = len(audit_events(target))
    # The second time from standard input, as a pipeline would give it.
    second = ok(ostiary(env_for(target), "import", "-", "--json", stdin=state.read_text()))
    assert json.loads(second.stdout) == {
        "dry_run": False,
        "prune": False,
        "changed": 0,
        "changes": [],
    }
    assert "nothing to change: the database matches standard input" in second.stderr
    assert len(audit_events(target)) == events


def test_dry_run_says_what_it_would_do_and_writes_nothing(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source, target = new_database(), new_database()
    on(source, populate)
    state = tmp_path / "state.json"
    state.write_text(state_of(source))
    empty = state_of(target)
    events = len(audit_events(target))
    dry = ok(ostiary(env_for(target), "import", str(state), "--dry-run", "--json"))
    summary = json.loads(dry.stdout)
    assert summary["dry_run"] is True and summary["changed"] == 0
    assert {"action": "create", "kind": "client", "name": "web", "detail": ""} in summary["changes"]
    assert "would create client web" in dry.stderr
    assert state_of(target) == empty
    assert len(audit_events(target)) == events


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], object], str]]:
    """(case, change to a valid document, phrase of the one-line error)."""

    def client(doc: dict[str, Any]) -> dict[str, Any]:
        return next(c for c in doc["clients"] if c["client_id"] == "web")

    def user(doc: dict[str, Any]) -> dict[str, Any]:
        return next(u for u in doc["users"] if u["username"] == "alice")

    def group(doc: dict[str, Any]) -> dict[str, Any]:
        return next(g for g in doc["groups"] if g["name"] == "all")

    return [
        ("version", lambda d: d.update(version=2), "format version 2"),
        (
            "redirect uri",
            lambda d: client(d)["redirect_uris"].append("ftp://x/cb"),
            "redirect URI 'ftp://x/cb'",
        ),
        ("clear secret", lambda d: client(d).update(client_secret="x"), "never written in clear"),
        (
            "unknown role",
            lambda d: d["scopes"][0]["required_roles"].append("nobody"),
            "role 'nobody' does not exist",
        ),
        ("cycle", lambda d: group(d)["parents"].append("eng"), "cycle"),
        ("username", lambda d: user(d).update(username="alice smith"), "must not contain spaces"),
        (
            "shared email",
            lambda d: user(d).update(email="CAROL@example.com"),
            "email 'CAROL@example.com' belongs to another account (carol)",
        ),
        (
            "hash",
            lambda d: user(d).update(password_hash="$2b$12$abcdefghijklmnopqrstuv"),
            "not an Argon2id hash",
        ),
        (
            "provider",
            lambda d: user(d)["links"].append({"provider": "nope", "subject": "s"}),
            "provider 'nope' does not exist",
        ),
        (
            "public change",
            lambda d: client(d).update(public=True, client_secret_hash=None),
            "public",
        ),
    ]


def test_an_invalid_file_changes_nothing_and_says_why_in_one_line(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source = new_database()
    on(source, populate)
    valid = json.loads(state_of(source))
    before = state_of(source)
    events = len(audit_events(source))
    # Applied to the database the document came from, where every item exists, beside
    # valid creations: a bad update is caught as surely as a bad creation, before either.
    valid["clients"].append({**valid["clients"][0], "client_id": "new-one"})
    valid["roles"].append({"name": "brand-new", "description": ""})
    documents = {}
    for case, mutate, phrase in _mutations():
        doc = json.loads(json.dumps(valid))
        mutate(doc)
        documents[case] = (json.dumps(doc).encode(), phrase)

    async def each(services: Services) -> None:
        for raw, phrase in documents.values():
            with pytest.raises(InvalidDocument, match=re.escape(phrase)):
                await apply(services, parse(raw), prune=False, dry_run=False, on_done=print_change)

    on(source, each)
    # The command line says it in one line, for a file that is not JSON, one that breaks a
    # field rule, and one whose items conflict (a nesting cycle).
    files = [(tmp_path / "broken.json", b'{"format": "ostiary-state", ', "not JSON")]
    for case in ("clear secret", "cycle"):
        files.append((tmp_path / f"{case.replace(' ', '-')}.json", *documents[case]))
    for path, raw, _ in files:
        path.write_bytes(raw)
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        results = list(pool.map(lambda f: ostiary(env_for(source), "import", str(f[0])), files))
    for result, (_, _, phrase) in zip(results, files, strict=True):
        failed(result, phrase, "nothing was changed")
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert state_of(source) == before
    assert len(audit_events(source)) == events


def print_change(change: Change) -> None:
    raise AssertionError(f"an invalid document changed something: {change.line(done=True)}")


def test_changes_are_applied_one_line_each_and_audited_as_the_cli(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source = new_database()
    on(source, populate)
    env = env_for(source)
    doc = json.loads(state_of(source))
    web = next(c for c in doc["clients"] if c["client_id"] == "web")
    web["redirect_uris"] = ["https://shop.example.com/cb"]
    web["scope"] = "openid orders:read"
    next(s for s in doc["scopes"] if s["name"] == "orders:write")["required_roles"] = ["admin"]
    next(g for g in doc["groups"] if g["name"] == "eng")["parents"] = ["all"]
    alice = next(u for u in doc["users"] if u["username"] == "alice")
    alice["email"] = "alice@new.example.com"
    alice["disabled"] = True
    alice["roles"] = []
    state = tmp_path / "state.json"
    state.write_text(json.dumps(doc))
    result = ok(ostiary(env, "import", str(state)))
    assert result.stderr.splitlines() == [
        "updated scope orders:write: required_roles",
        "updated client web: redirect_uris, scope",
        "updated group eng: take out of staff",
        "updated group eng: nest in all",
        "updated user alice: email",
        "updated user alice: unassign role admin",
        "updated user alice: disable",
    ]
    assert json.loads(state_of(source)) == doc
    events = audit_events(source)
    by_type = {e["type"]: e for e in events if e["details"].get("via") == "import"}
    assert by_type["client.updated"]["actor"] == "cli"
    assert by_type["client.updated"]["details"]["after"]["redirect_uris"] == [
        "https://shop.example.com/cb"
    ]
    for kind in ("scope.updated", "group.unnested", "group.nested", "user.updated"):
        assert by_type[kind]["actor"] == "cli", kind
    assert any(e["type"] == "user.disabled" and e["actor"] == "cli" for e in events)


def test_prune_deletes_only_with_the_flag_and_never_opens_a_gated_scope(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source = new_database()
    on(source, populate)
    env = env_for(source)
    doc = json.loads(state_of(source, users=False))
    doc["clients"] = [c for c in doc["clients"] if c["client_id"] != "batch"]
    doc["groups"] = [g for g in doc["groups"] if g["name"] != "ops"]
    doc["scopes"] = [s for s in doc["scopes"] if s["name"] != "newsletter"]
    state = tmp_path / "state.json"
    state.write_text(json.dumps(doc))
    kept = ok(ostiary(env, "import", str(state)))
    assert "nothing to change" in kept.stderr

    pruned = ok(ostiary(env, "import", str(state), "--prune"))
    assert pruned.stderr.splitlines() == [
        "deleted group ops",
        "deleted client batch",
        "deleted scope newsletter",
    ]
    assert json.loads(state_of(source, users=False)) == doc

    doc["scopes"] = [s for s in doc["scopes"] if s["name"] != "orders:write"]
    state.write_text(json.dumps(doc))
    failed(ostiary(env, "import", str(state), "--prune"), "orders:write", "every user")


def test_sealed_provider_secret_only_under_the_same_secret_key(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    source, target = new_database(), new_database()
    on(source, populate)
    doc = json.loads(state_of(source, users=False))
    state = tmp_path / "state.json"
    state.write_text(json.dumps(doc))
    other = env_for(target, OTHER_KEY)
    failed(
        ostiary(other, "import", str(state)), "another OSTIARY_SECRET_KEY", "nothing was changed"
    )
    # Without the sealed value the provider is created without a secret, to be set by hand.
    for provider in doc["providers"]:
        del provider["client_secret_sealed"]
    state.write_text(json.dumps(doc))
    ok(ostiary(other, "import", str(state)))

    async def corp_secret(services: Services) -> str | None:
        corp = await providers(services).get("corp")
        assert corp is not None
        return corp.client_secret

    assert on(target, corp_secret) is None


def test_a_new_confidential_client_without_a_hash_gets_a_secret_shown_once(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    target = new_database()
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "format": "ostiary-state",
                "version": 1,
                "clients": [
                    {
                        "client_id": "reports",
                        "client_name": "Reports",
                        "grant_types": ["client_credentials"],
                    }
                ],
            }
        )
    )
    summary = json.loads(ok(ostiary(env_for(target), "import", str(state), "--json")).stdout)
    secret = summary["client_secrets"]["reports"]
    assert secret.startswith("ost_cs_")

    async def stored(services: Services) -> bytes | None:
        client = await services.store.clients.get("reports")
        return client.secret_hash if client else None

    assert on(target, stored) == digest(secret)
    again = ok(ostiary(env_for(target), "import", str(state)))
    assert "nothing to change" in again.stderr and "ost_cs_" not in again.stderr


def test_a_failure_part_way_reports_exactly_the_changes_made_before_it(
    new_database: Callable[[], str],
) -> None:
    """The writes are not one transaction: when the database moved between the check and
    a write (here another writer creates a role first), the changes before it stay made
    and are the ones reported."""
    target = new_database()
    doc = parse(
        document_of(
            roles=[{"name": "alpha"}, {"name": "beta"}, {"name": "gamma"}],
            scopes=[{"name": "reports", "required_roles": ["alpha"]}],
        )
    )

    async def race(services: Services) -> tuple[list[str], Stopped, list[str]]:
        planning = await plan(services, doc, prune=False)
        changes = planning.ordered()
        await services.store.access.create_role("gamma")  # another writer, meanwhile
        reported: list[str] = []
        with pytest.raises(Stopped) as stopped:
            await execute(changes, lambda change: reported.append(change.line(done=True)))
        return reported, stopped.value, [r.name for r in await services.store.access.list_roles()]

    reported, stopped, roles = on(target, race)
    assert reported == ["created role alpha", "created role beta"]
    assert (stopped.applied, stopped.total) == (2, 4)
    assert str(stopped) == "stopped at 'create role gamma'"
    assert "exists" in str(stopped.__cause__)
    assert roles == ["alpha", "beta", "gamma"]


def document_of(**sections: Any) -> bytes:
    return json.dumps({"format": "ostiary-state", "version": 1, **sections}).encode()
