"""The console's signing-key and identity-provider pages against a real server: the key
ring and a rotation per algorithm; providers added from presets (the redirect URI to
register shown), changed, deleted; each console role's reach; the audit events."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from markupsafe import escape

from ostiary.domain.audit import AuditEvent
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import (
    ConsoleUser,
    console_csrf,
    make_console_user,
    signed_in_client,
)


@pytest.fixture
def admin(server: LiveServer) -> ConsoleUser:
    return make_console_user(server, "admin")


@pytest.fixture
def web(server: LiveServer, admin: ConsoleUser) -> Iterator[httpx.Client]:
    with signed_in_client(server, admin) as client:
        yield client


def events(server: LiveServer, type: str) -> list[AuditEvent]:
    async def read(services: Services) -> list[AuditEvent]:
        await services.audit.flush()
        found: list[AuditEvent] = []
        after = None
        while True:
            batch = await services.store.audit.query(type=type, after_id=after, limit=100)
            found += batch
            if len(batch) < 100:
                return found
            after = batch[-1].id

    return server.call(read)


def secret_of(server: LiveServer, name: str) -> str | None:
    async def read(services: Services) -> str | None:
        provider = await ProviderRepository(services.engine, client_secrets(services.settings)).get(
            name
        )
        return provider.client_secret if provider else None

    return server.call(read)


# -- keys ----------------------------------------------------------------------------------


def test_the_key_ring_lists_every_key_with_its_dates_and_state(web: httpx.Client) -> None:
    page = web.get("/admin/keys")
    assert page.status_code == 200
    for header in ("Key id", "Algorithm", "State", "Created", "Signs from", "Expires", "Age"):
        assert f'<th scope="col">{header}</th>' in page.text
    assert "RS256" in page.text and ">signing</span>" in page.text
    assert "Rotate RS256" in page.text and "Rotate ES256" in page.text


def test_rotating_a_key_publishes_a_new_one_and_is_audited(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    answer = web.post("/admin/keys/rotate", data={"csrf": console_csrf(web), "alg": "ES256"})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/keys"
    page = web.get("/admin/keys")
    made = re.search(r"New ES256 key ([A-Za-z0-9_-]+): published now", page.text)
    assert made, page.text
    kid = made.group(1)
    row = re.search(rf"<code>{re.escape(kid)}</code></td>\s*<td>ES256</td>", page.text)
    assert row, page.text
    # Published at once (RFC 7517 §5), before it signs.
    assert kid in httpx.get(server.base_url + "/jwks.json").text
    (event,) = [e for e in events(server, "key.rotated") if e.details.get("kid") == kid]
    assert event.actor == f"admin:{admin.user_id}" and event.details["alg"] == "ES256"


@pytest.mark.parametrize("alg", ["none", "HS256", "", "x" * 300])
def test_an_unknown_algorithm_is_refused_not_a_500(web: httpx.Client, alg: str) -> None:
    answer = web.post("/admin/keys/rotate", data={"csrf": console_csrf(web), "alg": alg})
    assert answer.status_code == 422 and "is not one of" in answer.text


# -- providers -------------------------------------------------------------------------------


def add(web: httpx.Client, preset: str = "oidc", **fields: Any) -> httpx.Response:
    path = f"/admin/providers/new?preset={preset}"
    data = {
        "csrf": console_csrf(web, path),
        "name": unique("corp").lower(),
        "issuer": "https://login.example.com",
        "client_id": "ostiary-at-corp",
        "client_secret": "upstream " + secrets.token_urlsafe(12),
        "scopes": "openid email",
        "provisioning": "allow",
        "enabled": "on",
        **fields,
    }
    return web.post(path, data=data)


def added(web: httpx.Client, preset: str = "oidc", **fields: Any) -> str:
    answer = add(web, preset, **fields)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def test_the_list_offers_each_preset(web: httpx.Client) -> None:
    name = added(web)
    page = web.get("/admin/providers")
    assert page.status_code == 200 and f'href="/admin/providers/{name}"' in page.text
    for preset in ("google", "entra", "okta", "github", "oidc"):
        assert f'href="/admin/providers/new?preset={preset}"' in page.text


def test_a_preset_starts_the_form_and_shows_the_redirect_uri_pattern(
    server: LiveServer, web: httpx.Client
) -> None:
    google = web.get("/admin/providers/new", params={"preset": "google"})
    assert google.status_code == 200
    assert 'value="https://accounts.google.com"' in google.text
    assert 'value="openid email profile"' in google.text and 'name="hosted_domain"' in google.text
    assert f"{server.base_url}/federation/&lt;name&gt;/callback" in google.text
    microsoft = web.get("/admin/providers/new", params={"preset": "microsoft"})
    assert microsoft.status_code == 200 and "Microsoft Entra ID" in microsoft.text
    assert 'name="tenants"' in microsoft.text
    github = web.get("/admin/providers/new", params={"preset": "github"})
    assert 'value="read:user user:email"' in github.text and 'name="api_base"' in github.text
    assert web.get("/admin/providers/new", params={"preset": "myspace"}).status_code == 404


def test_adding_a_provider_shows_the_redirect_uri_to_register(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    name = unique("gws").lower()
    upstream_secret = "google " + secrets.token_urlsafe(12)
    answer = add(
        web,
        "google",
        name=name,
        issuer="https://accounts.google.com",
        hosted_domain="example.com",
        client_secret=upstream_secret,
        scopes="openid email profile",
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/admin/providers/{name}"
    page = web.get(answer.headers["location"])
    uri = f"{server.base_url}/federation/{name}/callback"
    assert f'<code id="copy-redirect-uri">{uri}</code>' in page.text
    assert 'data-copy="copy-redirect-uri"' in page.text
    assert f"Provider {name} added." in page.text
    assert upstream_secret not in page.text and 'value="example.com"' in page.text
    assert secret_of(server, name) == upstream_secret
    (event,) = [e for e in events(server, "provider.created") if e.details["after"]["name"] == name]
    assert event.actor == f"admin:{admin.user_id}"
    assert upstream_secret not in str(event.details)


@pytest.mark.parametrize(
    ("preset", "fields", "field"),
    [
        ("google", {"issuer": "https://evil.example"}, "issuer"),
        (
            "google",
            {"issuer": "https://accounts.google.com", "hosted_domain": "x"},
            "hosted_domain",
        ),
        ("entra", {"issuer": "https://login.microsoftonline.com/common/v2.0"}, "tenants"),
        ("okta", {"issuer": "https://acme.okta.com/oauth2/v1/x/y"}, "issuer"),
        ("oidc", {"issuer": "ftp://login.example.com"}, "issuer"),
        ("oidc", {"name": "Not Valid!"}, "name"),
        ("oidc", {"client_id": ""}, "client_id"),
        ("oidc", {"scopes": "openid bad\\scope"}, "scopes"),
        ("oidc", {"provisioning": "sometimes"}, "provisioning"),
        ("oidc", {"token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"),
        ("oidc", {"mapping": 'groups contains "a" -> role admin\nnonsense'}, "mapping"),
        ("github", {"issuer": "https://github.com", "scopes": "openid"}, "scopes"),
    ],
)
def test_a_refused_setting_stands_next_to_its_field_with_the_input_kept(
    web: httpx.Client, preset: str, fields: dict[str, str], field: str
) -> None:
    answer = add(web, preset, display_name="Kept label", **fields)
    assert answer.status_code == 422, answer.text
    assert f'id="e-{field}"' in answer.text, answer.text
    assert 'value="Kept label"' in answer.text


def test_a_bad_mapping_rule_is_named_by_its_line(web: httpx.Client) -> None:
    rules = 'groups contains "a" -> role admin\n\nnonsense here'
    answer = add(web, mapping=rules)
    assert answer.status_code == 422
    assert re.search(r'id="e-mapping">Line 3: ', answer.text), answer.text


def test_a_taken_name_is_refused_next_to_it(web: httpx.Client) -> None:
    name = added(web)
    answer = add(web, name=name)
    assert answer.status_code == 422 and 'id="e-name"' in answer.text
    assert "exists already" in answer.text


def test_changing_a_provider_and_its_secret(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    name = added(web, mapping='groups contains "admins" -> role admin')
    page = web.get(f"/admin/providers/{name}")
    form = {
        "csrf": console_csrf(web, f"/admin/providers/{name}"),
        "display_name": "Corp SSO",
        "issuer": "https://login.example.com",
        "client_id": "ostiary-at-corp",
        "scopes": "openid email",
        "provisioning": "existing",
        "trust_email": "on",
        "mapping": 'groups contains "admins" -> role admin',
    }
    assert f"{escape(form['mapping'])}</textarea>" in page.text
    kept = secret_of(server, name)
    answer = web.post(f"/admin/providers/{name}", data=form)
    assert answer.status_code == 303
    page = web.get(answer.headers["location"])
    assert "Changes saved." in page.text and "<h1>Corp SSO</h1>" in page.text
    assert ">disabled</span>" in page.text and secret_of(server, name) == kept
    (event,) = [e for e in events(server, "provider.updated") if e.details["name"] == name]
    assert event.actor == f"admin:{admin.user_id}"
    assert event.details["after"]["enabled"] is False
    assert event.details["after"]["provisioning"] == "existing"

    fresh = "new upstream " + secrets.token_urlsafe(8)
    answer = web.post(f"/admin/providers/{name}", data={**form, "client_secret": fresh})
    assert answer.status_code == 303 and secret_of(server, name) == fresh
    assert fresh not in web.get(f"/admin/providers/{name}").text
    answer = web.post(f"/admin/providers/{name}", data={**form, "remove_secret": "on"})
    assert answer.status_code == 303 and secret_of(server, name) is None
    changes = [e for e in events(server, "provider.updated") if e.details["name"] == name]
    assert [e.details.get("client_secret_changed") for e in changes] == [None, True, True]
    assert fresh not in str([e.details for e in changes])


def test_a_refused_change_keeps_what_was_typed(web: httpx.Client) -> None:
    name = added(web)
    form = {
        "csrf": console_csrf(web, f"/admin/providers/{name}"),
        "display_name": "Typed label",
        "issuer": "http://not-loopback.example",
        "client_id": "kept-client",
    }
    answer = web.post(f"/admin/providers/{name}", data=form)
    assert answer.status_code == 422 and 'id="e-issuer"' in answer.text
    assert 'value="Typed label"' in answer.text and 'value="kept-client"' in answer.text


def test_deleting_a_provider(server: LiveServer, web: httpx.Client, admin: ConsoleUser) -> None:
    name = added(web)
    csrf = console_csrf(web, f"/admin/providers/{name}")
    answer = web.post(f"/admin/providers/{name}/delete", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/providers"
    assert f"Provider {name} deleted" in web.get("/admin/providers").text
    assert web.get(f"/admin/providers/{name}").status_code == 404
    (event,) = [e for e in events(server, "provider.deleted") if e.details["name"] == name]
    assert event.actor == f"admin:{admin.user_id}"


@pytest.mark.parametrize("action", ["", "/delete"])
def test_an_unknown_provider_is_a_404_page(web: httpx.Client, action: str) -> None:
    missing = "/admin/providers/" + unique("nowhere")
    if not action:
        assert web.get(missing).status_code == 404
        assert web.get("/admin/providers/" + "x" * 300).status_code == 404
    answer = web.post(missing + action, data={"csrf": console_csrf(web), "client_id": "x"})
    assert answer.status_code == 404 and "does not exist" in answer.text


@pytest.mark.parametrize("segment", ["%00", "a%00b", "%ED%A0%80"])
def test_a_name_no_provider_can_have_is_a_404_not_a_500(web: httpx.Client, segment: str) -> None:
    expected = 400 if "%00" in segment else 404  # NUL: the console's 400 in every area
    assert web.get(f"/admin/providers/{segment}").status_code == expected
    answer = web.post(f"/admin/providers/{segment}/delete", data={"csrf": console_csrf(web)})
    assert answer.status_code == expected


# -- who may ---------------------------------------------------------------------------------


def _posts(name: str) -> list[tuple[str, dict[str, str]]]:
    return [
        ("/admin/keys/rotate", {"alg": "ES256"}),
        ("/admin/providers/new?preset=oidc", {"name": unique("x"), "client_id": "x"}),
        (f"/admin/providers/{name}", {"client_id": "x", "issuer": "https://x.example"}),
        (f"/admin/providers/{name}/delete", {"go": "1"}),
    ]


def test_a_user_admin_may_not_see_or_change_keys_or_providers(
    server: LiveServer, web: httpx.Client
) -> None:
    name = added(web)
    person = make_console_user(server, "user-admin")
    with signed_in_client(server, person) as theirs:
        for path in (
            "/admin/keys",
            "/admin/providers",
            "/admin/providers/new?preset=google",
            f"/admin/providers/{name}",
        ):
            assert theirs.get(path).status_code == 403, path
        csrf = console_csrf(theirs, "/admin/")
        for path, data in _posts(name):
            assert theirs.post(path, data={"csrf": csrf, **data}).status_code == 403, path
    assert web.get(f"/admin/providers/{name}").status_code == 200


def test_an_auditor_reads_keys_and_providers_but_changes_nothing(
    server: LiveServer, web: httpx.Client
) -> None:
    name = added(web)
    person = make_console_user(server, "auditor")
    with signed_in_client(server, person) as theirs:
        keys = theirs.get("/admin/keys")
        assert keys.status_code == 200 and "Rotate" not in keys.text
        listing = theirs.get("/admin/providers")
        assert listing.status_code == 200 and name in listing.text
        assert "Add a provider" not in listing.text
        page = theirs.get(f"/admin/providers/{name}")
        assert page.status_code == 200 and "/federation/" in page.text
        assert "Save changes" not in page.text and "Delete provider" not in page.text
        assert theirs.get("/admin/providers/new?preset=oidc").status_code == 403
        csrf = console_csrf(theirs, "/admin/keys")
        for path, data in _posts(name):
            assert theirs.post(path, data={"csrf": csrf, **data}).status_code == 403, path
    assert web.get(f"/admin/providers/{name}").status_code == 200


def test_a_post_without_the_csrf_token_is_refused(web: httpx.Client) -> None:
    name = added(web)
    for path, data in _posts(name):
        answer = web.post(path, data=data)
        assert answer.status_code == 403 and "expired" in answer.text, path
    assert web.get(f"/admin/providers/{name}").status_code == 200
