"""The console's client pages against a real server: list, register (the secret shown
once), change, new secret, revoke tokens, delete; the console's own client kept out of
reach (here and at the admin API); each console role's reach; the audit events."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_READ_SCOPE, ADMIN_SCOPE, CONSOLE_CLIENT_ID, bootstrap
from ostiary.admin.console.client_form import ADVANCED
from ostiary.domain.audit import AuditEvent
from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import (
    ConsoleUser,
    console_csrf,
    make_console_user,
    signed_in_client,
)
from tests.e2e.test_admin_api import api_client, client_token

SECRET = re.compile(r"ost_cs_[A-Za-z0-9_-]+")


@pytest.fixture
def admin(server: LiveServer) -> ConsoleUser:
    return make_console_user(server, "admin")


@pytest.fixture
def web(server: LiveServer, admin: ConsoleUser) -> Iterator[httpx.Client]:
    with signed_in_client(server, admin) as client:
        yield client


def events(server: LiveServer, type: str, client_id: str) -> list[AuditEvent]:
    async def read(services: Services) -> list[AuditEvent]:
        await services.audit.flush()
        return await services.store.audit.query(type=type, client_id=client_id)

    return server.call(read)


def register(web: httpx.Client, **fields: Any) -> httpx.Response:
    data = {"csrf": console_csrf(web, "/admin/clients/new"), "client_name": "Shop", **fields}
    return web.post("/admin/clients/new", data=data)


def registered(web: httpx.Client, **fields: Any) -> str:
    """Register through the console; the new client's id."""
    answer = register(web, **fields)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def token_status(server: LiveServer, client_id: str, secret: str) -> int:
    answer = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    return answer.status_code


def form_fields(client_id: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "client_name": "Machine",
        "redirect_uris": "",
        "grant_types": ["client_credentials"],
        "scope": "",
        "token_endpoint_auth_method": "",
    }
    return {**base, **changes}


def test_the_list_shows_every_client_and_the_console_as_built_in(
    server: LiveServer, web: httpx.Client
) -> None:
    client_id = registered(web, client_id=unique("listed"), grant_types="client_credentials")
    page = web.get("/admin/clients")
    assert page.status_code == 200
    assert f'href="/admin/clients/{client_id}"' in page.text
    assert f'href="/admin/clients/{CONSOLE_CLIENT_ID}"' in page.text
    assert "built in" in page.text and '<th scope="col">Client ID</th>' in page.text
    assert 'href="/admin/clients/new"' in page.text


def test_a_confidential_client_secret_is_shown_once_and_works(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client_id = unique("machine")
    answer = register(web, client_id=client_id, grant_types="client_credentials", scope="")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/clients/{client_id}"
    page = web.get(answer.headers["location"])
    assert page.status_code == 200 and f"Client {client_id} registered." in page.text
    shown = SECRET.search(page.text)
    assert shown, page.text
    assert 'data-copy="copy-client-secret"' in page.text
    assert "shown this once" in page.text
    # The secret is real: it obtains a token.
    assert token_status(server, client_id, shown.group(0)) == 200
    # A reload shows it no more.
    again = web.get(f"/admin/clients/{client_id}")
    assert again.status_code == 200 and not SECRET.search(again.text)
    (event,) = events(server, "client.created", client_id)
    assert event.actor == f"admin:{admin.user_id}"
    assert shown.group(0) not in str(event.details)


def test_the_secret_cookie_is_for_the_admin_who_made_it_only(
    server: LiveServer, web: httpx.Client
) -> None:
    answer = register(web, client_id=unique("mine"), grant_types="client_credentials")
    carried = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("ost_console_secret=")
    )
    assert "HttpOnly" in carried and "SameSite=Strict" in carried
    assert "Path=/admin/clients/" in carried and "Max-Age=120" in carried
    other = make_console_user(server, "admin")
    with signed_in_client(server, other) as theirs:
        value = carried.split(";", 1)[0].split("=", 1)[1]
        theirs.cookies.set("ost_console_secret", value, path=answer.headers["location"])
        page = theirs.get(answer.headers["location"])
        assert page.status_code == 200 and not SECRET.search(page.text)


def test_a_public_client_has_no_secret(server: LiveServer, web: httpx.Client) -> None:
    client_id = registered(
        web, client_id=unique("spa"), public="on", redirect_uris="https://spa.example/cb"
    )
    page = web.get(f"/admin/clients/{client_id}")
    assert "public (no secret, PKCE)" in page.text and not SECRET.search(page.text)
    assert "Make a new secret" not in page.text


def test_a_bad_redirect_uri_is_named_by_its_line_and_the_input_is_kept(
    web: httpx.Client,
) -> None:
    typed = "https://ok.example/cb\n\nhttp://plain.example/cb"
    answer = register(web, client_name="Kept name", redirect_uris=typed, scope="openid kept")
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    error = re.search(r'<p class="field-error" id="e-redirect_uris">([^<]*)</p>', answer.text)
    assert error and error.group(1).startswith("Line 3: "), answer.text
    assert 'value="Kept name"' in answer.text and 'value="openid kept"' in answer.text
    assert "https://ok.example/cb\n\nhttp://plain.example/cb</textarea>" in answer.text


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"access_token_ttl": "soon"}, "access_token_ttl"),
        ({"access_token_ttl": "90000"}, "access_token_ttl"),
        ({"id_token_ttl": "5"}, "id_token_ttl"),
        ({"client_name": ""}, "client_name"),
        ({"client_id": "a b"}, "client_id"),
        ({"token_endpoint_auth_method": "mystery_method"}, "token_endpoint_auth_method"),
        ({"grant_types": "implicit"}, "grant_types"),
        ({"grant_types": "authorization_code"}, "redirect_uris"),
        ({"scope": "bad\\scope", "grant_types": "client_credentials"}, "scope"),
        ({"public": "on", "grant_types": "client_credentials"}, "grant_types"),
        ({"redirect_uris": "x" * 2001}, "redirect_uris"),
        ({"backchannel_logout_uri": "ftp://x.example/logout"}, "backchannel_logout_uri"),
        ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({"audience": "https://api.example\n" + "y" * 2001}, "audience"),
    ],
)
def test_validation_errors_stand_next_to_their_field(
    web: httpx.Client, fields: dict[str, str], field: str
) -> None:
    answer = register(web, **fields)
    assert answer.status_code == 422, answer.text
    assert f'id="e-{field}"' in answer.text, answer.text
    # An error among the further settings opens them.
    assert ('<details class="more" open>' in answer.text) == (field in ADVANCED)


def test_a_taken_client_id_is_refused_next_to_it(web: httpx.Client) -> None:
    client_id = registered(web, client_id=unique("taken"), grant_types="client_credentials")
    answer = register(web, client_id=client_id, grant_types="client_credentials")
    assert answer.status_code == 422
    assert 'id="e-client_id"' in answer.text and "is taken" in answer.text


def test_an_admin_changes_uris_scopes_grants_lifetimes_and_method(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client_id = registered(web, client_id=unique("edit"), grant_types="client_credentials")
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    data = form_fields(
        client_id,
        csrf=csrf,
        client_name="Edited",
        redirect_uris="https://a.example/cb\nhttps://b.example/cb\n",
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile",
        access_token_ttl="600",
        refresh_token_ttl="86400",
        id_token_ttl="300",
        token_endpoint_auth_method="client_secret_post",
        include_roles="on",
        audience="https://api.example\n\nhttps://other.example",
        id_token_signed_response_alg="ES256",
        backchannel_logout_uri="https://a.example/logout",
        backchannel_logout_session_required="on",
        session_refresh_tokens="on",
    )
    answer = web.post(f"/admin/clients/{client_id}", data=data)
    assert answer.status_code == 303, answer.text
    page = web.get(answer.headers["location"])
    assert "Changes saved." in page.text and "<h1>Edited</h1>" in page.text
    assert "https://a.example/cb\nhttps://b.example/cb</textarea>" in page.text
    assert 'value="600"' in page.text and 'value="client_secret_post" selected' in page.text

    async def stored(services: Services) -> Any:
        return await services.store.clients.get(client_id)

    client = server.call(stored)
    assert client.redirect_uris == ("https://a.example/cb", "https://b.example/cb")
    assert set(client.grant_types) == {"authorization_code", "refresh_token"}
    assert set(client.scopes) == {"openid", "profile"}
    assert (client.access_token_ttl, client.refresh_token_ttl, client.id_token_ttl) == (
        600,
        86400,
        300,
    )
    assert client.token_endpoint_auth_method == "client_secret_post" and client.include_roles
    assert client.audience == ("https://api.example", "https://other.example")
    assert client.id_token_signed_response_alg == "ES256"
    assert client.backchannel_logout_uri == "https://a.example/logout"
    assert client.backchannel_logout_session_required and client.session_refresh_tokens
    (event,) = events(server, "client.updated", client_id)
    assert event.actor == f"admin:{admin.user_id}"
    assert event.details["after"]["access_token_ttl"] == 600


def test_a_refused_change_keeps_what_was_typed(web: httpx.Client) -> None:
    client_id = registered(web, client_id=unique("keep"), grant_types="client_credentials")
    data = form_fields(
        client_id,
        csrf=console_csrf(web, f"/admin/clients/{client_id}"),
        client_name="Typed",
        redirect_uris="https://fine.example/cb\nhttps://bad.example/cb#frag",
        grant_types=["authorization_code"],
    )
    answer = web.post(f"/admin/clients/{client_id}", data=data)
    assert answer.status_code == 422
    assert re.search(r'id="e-redirect_uris">Line 2: ', answer.text), answer.text
    assert 'value="Typed"' in answer.text


def test_a_new_secret_replaces_the_old_and_is_shown_once(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client_id = unique("rotate")
    first = web.get(
        register(web, client_id=client_id, grant_types="client_credentials").headers["location"]
    )
    old = SECRET.search(first.text)
    assert old
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    answer = web.post(f"/admin/clients/{client_id}/rotate-secret", data={"csrf": csrf})
    assert answer.status_code == 303
    page = web.get(answer.headers["location"])
    new = SECRET.search(page.text)
    assert new and new.group(0) != old.group(0)
    assert token_status(server, client_id, old.group(0)) == 401
    assert token_status(server, client_id, new.group(0)) == 200
    assert not SECRET.search(web.get(f"/admin/clients/{client_id}").text)
    (event,) = events(server, "client.secret_rotated", client_id)
    assert event.actor == f"admin:{admin.user_id}"


def test_a_public_client_has_no_secret_to_rotate(web: httpx.Client) -> None:
    client_id = registered(
        web, client_id=unique("pub"), public="on", redirect_uris="https://spa.example/cb"
    )
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    answer = web.post(f"/admin/clients/{client_id}/rotate-secret", data={"csrf": csrf})
    assert answer.status_code == 409 and "no secret" in answer.text


def test_revoking_every_token_of_a_client(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client_id = unique("revoke")
    page = web.get(
        register(web, client_id=client_id, grant_types="client_credentials").headers["location"]
    )
    secret = SECRET.search(page.text)
    assert secret
    token = httpx.post(
        server.base_url + "/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret.group(0)),
    ).json()["access_token"]
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    answer = web.post(f"/admin/clients/{client_id}/revoke-tokens", data={"csrf": csrf})
    assert answer.status_code == 303
    assert "no longer works" in web.get(answer.headers["location"]).text
    introspected = httpx.post(
        server.base_url + "/introspect", data={"token": token}, auth=(client_id, secret.group(0))
    ).json()
    assert introspected == {"active": False}
    (event,) = events(server, "client.tokens_revoked", client_id)
    assert event.actor == f"admin:{admin.user_id}"


def test_clearing_a_client_s_authentication_locks(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    client_id = registered(web, client_id=unique("unlock"), grant_types="client_credentials")
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    answer = web.post(f"/admin/clients/{client_id}/unlock", data={"csrf": csrf})
    assert answer.status_code == 303
    (event,) = events(server, "client.unlocked", client_id)
    assert event.actor == f"admin:{admin.user_id}"


def test_deleting_a_client(server: LiveServer, web: httpx.Client, admin: ConsoleUser) -> None:
    client_id = registered(web, client_id=unique("gone"), grant_types="client_credentials")
    csrf = console_csrf(web, f"/admin/clients/{client_id}")
    answer = web.post(f"/admin/clients/{client_id}/delete", data={"csrf": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/clients"
    assert f"Client {client_id} deleted." in web.get("/admin/clients").text
    assert web.get(f"/admin/clients/{client_id}").status_code == 404
    (event,) = events(server, "client.deleted", client_id)
    assert event.actor == f"admin:{admin.user_id}"


@pytest.mark.parametrize("action", ["", "/rotate-secret", "/revoke-tokens", "/unlock", "/delete"])
def test_an_unknown_client_is_a_404_page(web: httpx.Client, action: str) -> None:
    csrf = console_csrf(web)
    missing = "/admin/clients/" + unique("nowhere")
    if not action:
        assert web.get(missing).status_code == 404
    answer = web.post(missing + action, data={"csrf": csrf, "client_name": "x"})
    assert answer.status_code == 404 and "does not exist" in answer.text


@pytest.mark.parametrize("segment", ["%00", "a%00b", "%ED%A0%80", "x" * 300])
def test_a_client_id_no_client_can_have_is_a_404_not_a_500(web: httpx.Client, segment: str) -> None:
    """PostgreSQL cannot compare text holding NUL or a lone surrogate: never asked (an
    address holding NUL is the console's 400 in every area)."""
    expected = 400 if "%00" in segment else 404
    assert web.get(f"/admin/clients/{segment}").status_code == expected
    answer = web.post(f"/admin/clients/{segment}/delete", data={"csrf": console_csrf(web)})
    assert answer.status_code == expected


def test_a_bad_page_cursor_is_not_a_500(web: httpx.Client) -> None:
    assert web.get("/admin/clients", params={"cursor": "!!"}).status_code == 400
    assert web.get("/admin/clients", params={"cursor": "x" * 2000}).status_code == 400


def test_the_console_client_cannot_be_changed_or_deleted_from_the_console(
    web: httpx.Client,
) -> None:
    page = web.get(f"/admin/clients/{CONSOLE_CLIENT_ID}")
    assert page.status_code == 200 and "admin console's own client" in page.text
    assert "Save changes" not in page.text and "Delete client" not in page.text
    csrf = console_csrf(web)
    data = form_fields(CONSOLE_CLIENT_ID, csrf=csrf, redirect_uris="https://evil.example/cb")
    for path in ("", "/delete"):
        answer = web.post(f"/admin/clients/{CONSOLE_CLIENT_ID}{path}", data=data)
        assert answer.status_code == 409, answer.text
        assert "lock every admin out" in answer.text
    assert web.get("/admin/clients/" + CONSOLE_CLIENT_ID).status_code == 200


def test_the_console_client_cannot_be_changed_or_deleted_through_the_api(
    server: LiveServer,
) -> None:
    made = server.call(
        lambda services: bootstrap(services, unique("root"), "boot " + secrets.token_urlsafe(12))
    )
    token = client_token(
        server, made.client_id, made.client_secret, f"{ADMIN_SCOPE} {ADMIN_READ_SCOPE}"
    )
    with api_client(server, token) as api:
        patched = api.patch(f"/clients/{CONSOLE_CLIENT_ID}", json={"client_name": "Mine"})
        assert patched.status_code == 409 and "lock every admin out" in patched.json()["detail"]
        assert api.delete(f"/clients/{CONSOLE_CLIENT_ID}").status_code == 409
        assert api.get(f"/clients/{CONSOLE_CLIENT_ID}").json()["client_name"] != "Mine"
        # The API's own secret rotation is the same operation as the console's.
        rotated = api.post(f"/clients/{made.client_id}/rotate-secret")
        assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
        assert rotated.json()["client_secret"].startswith("ost_cs_")


def test_a_user_admin_may_not_see_or_change_clients(server: LiveServer, admin: ConsoleUser) -> None:
    with signed_in_client(server, admin) as web:
        client_id = registered(web, client_id=unique("ua"), grant_types="client_credentials")
    person = make_console_user(server, "user-admin")
    with signed_in_client(server, person) as web:
        for path in ("/admin/clients", "/admin/clients/new", f"/admin/clients/{client_id}"):
            assert web.get(path).status_code == 403, path
        csrf = console_csrf(web, "/admin/")
        for path in _posts(client_id):
            answer = web.post(path, data={"csrf": csrf, "client_name": "x"})
            assert answer.status_code == 403, path
        assert "Clients</a>" not in web.get("/admin/").text


def test_an_auditor_reads_clients_but_changes_nothing(
    server: LiveServer, admin: ConsoleUser
) -> None:
    with signed_in_client(server, admin) as web:
        client_id = registered(web, client_id=unique("aud"), grant_types="client_credentials")
    person = make_console_user(server, "auditor")
    with signed_in_client(server, person) as web:
        listing = web.get("/admin/clients")
        assert listing.status_code == 200 and client_id in listing.text
        assert "Register a new client" not in listing.text
        page = web.get(f"/admin/clients/{client_id}")
        assert page.status_code == 200 and "Save changes" not in page.text
        assert "Delete client" not in page.text and "client_credentials" in page.text
        assert web.get("/admin/clients/new").status_code == 403
        csrf = console_csrf(web, "/admin/clients")
        for path in _posts(client_id):
            answer = web.post(path, data={"csrf": csrf, "client_name": "x"})
            assert answer.status_code == 403, path


def test_a_post_without_the_csrf_token_is_refused(server: LiveServer, web: httpx.Client) -> None:
    client_id = registered(web, client_id=unique("csrf"), grant_types="client_credentials")
    for path in _posts(client_id):
        answer = web.post(path, data={"client_name": "x"})
        assert answer.status_code == 403, path
        assert "expired" in answer.text
    assert web.get(f"/admin/clients/{client_id}").status_code == 200


def _posts(client_id: str) -> list[str]:
    base = f"/admin/clients/{client_id}"
    return [
        "/admin/clients/new",
        base,
        f"{base}/rotate-secret",
        f"{base}/revoke-tokens",
        f"{base}/unlock",
        f"{base}/delete",
    ]
