"""Self-service account pages against a real server: sign-in, CSRF, password change,
sessions, applications (consents), data export, deletion and email verification."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from ostiary.accounts import lifecycle
from ostiary.services import Services
from tests.conftest import LiveServer
from tests.e2e import account_fixtures
from tests.e2e.account_fixtures import (
    Mailbox,
    account_login,
    is_signed_in,
    link_in,
    signed_in_browser,
)
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    login_and_consent,
    login_page,
    make_client,
    make_user,
    pkce_pair,
    query_of,
    redeem_code,
)

# The shared fixtures: a real SMTP server and an Ostiary server mailing through it.
mailbox = account_fixtures.mailbox
mail_server = account_fixtures.mail_server

NEW_PASSWORD = "another fine passphrase 7"
PAGES = ["/account", "/account/password", "/account/sessions", "/account/applications"]
PAGES += ["/account/delete"]
FORMS: dict[str, dict[str, str]] = {
    "/account/password": {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    },
    "/account/sessions/end": {"scope": "others"},
    "/account/applications/revoke": {"client_id": "anything"},
    "/account/export": {},
    "/account/verify-email": {},
    "/account/delete": {"password": PASSWORD},
}


# -- helpers -------------------------------------------------------------------------------


def user_of(server: LiveServer, username: str) -> Any:
    async def get(services: Services) -> Any:
        return await services.store.users.by_username(username)

    return server.call(get)


def tokens_for(
    web: httpx.Client, client: RegisteredClient, username: str, scope: str = "read"
) -> dict[str, Any]:
    """Authorization code flow in ``web`` (login and consent as needed), then /token."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope=scope)
    response = login_and_consent(web, params, username)
    code = query_of(response.headers["location"])["code"]
    token = redeem_code(web, client, code, verifier, params)
    assert token.status_code == 200, token.text
    return token.json()


def refresh(server: LiveServer, client: RegisteredClient, token: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=client.basic_auth(),
    )


def active(server: LiveServer, client: RegisteredClient, token: str) -> bool:
    response = httpx.post(
        f"{server.base_url}/introspect", data={"token": token}, auth=client.basic_auth()
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def post_form(web: httpx.Client, page: str, action: str, **data: str) -> httpx.Response:
    """Submit a form of ``page`` the way the browser would, CSRF token included."""
    return web.post(action, data={"csrf": csrf_of(web.get(page).text), **data})


def sids_on(html: str) -> list[str]:
    return re.findall(r'name="sid" value="([^"]+)"', html)


# -- sign-in and CSRF ------------------------------------------------------------------------


def test_account_pages_without_session_redirect_to_account_login(mail_server: LiveServer) -> None:
    with browser(mail_server) as web:
        for path in PAGES:
            response = web.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/account/login?next={path}"
        for path, data in FORMS.items():
            assert web.post(path, data=data).status_code == 303, path


def test_account_login_returns_to_next_page_and_only_to_account_pages(
    mail_server: LiveServer,
) -> None:
    username = make_user(mail_server)
    with browser(mail_server) as web:
        wrong = account_login(web, username, "not the password at all")
        assert wrong.status_code == 401
        assert "Wrong username or password." in wrong.text
        form = web.get("/account/login", params={"next": "/account/sessions"})
        done = web.post(
            "/account/login?next=/account/sessions",
            data={"csrf": csrf_of(form.text), "username": username, "password": PASSWORD},
        )
        assert done.headers["location"] == "/account/sessions"
        assert web.get("/account/login?next=//evil.example/").headers["location"] == "/account"


def test_every_account_form_without_csrf_token_is_refused_403(mail_server: LiveServer) -> None:
    username = make_user(mail_server)
    with (
        signed_in_browser(mail_server, username) as web,
        signed_in_browser(mail_server, username) as other,
    ):
        for page in PAGES:
            html = web.get(page).text
            assert html.count('method="post"') == html.count('name="csrf"'), page
        foreign = csrf_of(other.get("/account").text)
        for path, data in FORMS.items():
            assert web.post(path, data=data).status_code == 403, path
            assert web.post(path, data={**data, "csrf": "forged"}).status_code == 403, path
            # A token is bound to its own session cookie.
            assert web.post(path, data={**data, "csrf": foreign}).status_code == 403, path
        assert is_signed_in(web) and is_signed_in(other)
    with browser(mail_server) as web:
        assert account_login(web, username).status_code == 303


# -- password --------------------------------------------------------------------------------


def test_change_password_needs_the_current_one_and_ends_other_sessions(
    mail_server: LiveServer,
) -> None:
    username = make_user(mail_server)
    form = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    with (
        signed_in_browser(mail_server, username) as web,
        signed_in_browser(mail_server, username) as elsewhere,
    ):
        wrong = post_form(
            web, "/account/password", "/account/password", current_password="guess", **form
        )
        assert wrong.status_code == 401
        assert "Wrong password." in wrong.text
        weak = post_form(
            web,
            "/account/password",
            "/account/password",
            current_password=PASSWORD,
            new_password="qwerty123456",
            confirm_password="qwerty123456",
        )
        assert weak.status_code == 400
        assert "most commonly used" in weak.text
        assert is_signed_in(elsewhere)

        done = post_form(
            web, "/account/password", "/account/password", current_password=PASSWORD, **form
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/account?notice=password-changed"
        assert "Your password was changed" in web.get(done.headers["location"]).text
        assert is_signed_in(web)
        assert not is_signed_in(elsewhere)
    with browser(mail_server) as web:
        assert account_login(web, username, PASSWORD).status_code == 401
        assert account_login(web, username, NEW_PASSWORD).status_code == 303

    async def changed(services: Services) -> dict[str, Any]:
        user = await services.store.users.by_username(username)
        assert user is not None
        (event,) = await services.store.audit.query(user_id=user.id, type="password.changed")
        return event.details

    # The counts survive the audit log's scrubbing of secret-looking keys.
    assert mail_server.call(changed) == {"sessions_ended": 1, "refresh_grants_revoked": 0}


# -- sessions --------------------------------------------------------------------------------


def test_sessions_page_lists_another_browser_and_signs_it_out(mail_server: LiveServer) -> None:
    client = make_client(mail_server)
    username = make_user(mail_server)
    with signed_in_browser(mail_server, username) as web, browser(mail_server) as laptop:
        tokens_for(laptop, client, username)
        page = web.get("/account/sessions").text
        assert "This browser" in page and "Another browser" in page
        assert _client_names(mail_server, client) in page
        (sid,) = sids_on(page)

        ended = post_form(web, "/account/sessions", "/account/sessions/end", sid=sid)
        assert ended.headers["location"] == "/account/sessions?notice=session-ended"
        assert sids_on(web.get("/account/sessions").text) == []
        assert is_signed_in(web)
        # The other browser must sign in again.
        _, challenge = pkce_pair()
        login_page(laptop, authorize_params(client, challenge))


def _client_names(server: LiveServer, client: RegisteredClient) -> str:
    async def name(services: Services) -> str:
        found = await services.store.clients.get(client.client_id)
        assert found is not None
        return found.name

    return server.call(name)


def test_sign_out_all_other_sessions_keeps_this_one(mail_server: LiveServer) -> None:
    username = make_user(mail_server)
    with (
        signed_in_browser(mail_server, username) as web,
        signed_in_browser(mail_server, username) as second,
        signed_in_browser(mail_server, username) as third,
    ):
        assert len(sids_on(web.get("/account/sessions").text)) == 2
        done = post_form(web, "/account/sessions", "/account/sessions/end", scope="others")
        assert done.headers["location"] == "/account/sessions?notice=sessions-ended"
        assert is_signed_in(web)
        assert not is_signed_in(second) and not is_signed_in(third)


def test_a_session_of_another_user_cannot_be_ended(mail_server: LiveServer) -> None:
    with (
        signed_in_browser(mail_server, make_user(mail_server)) as mallory,
        signed_in_browser(mail_server, make_user(mail_server)) as alice,
        signed_in_browser(mail_server, alice_name := make_user(mail_server)) as alice_laptop,
        signed_in_browser(mail_server, alice_name) as alice_phone,
    ):
        (victim_sid,) = sids_on(alice_laptop.get("/account/sessions").text)
        post_form(mallory, "/account", "/account/sessions/end", sid=victim_sid)
        assert is_signed_in(alice_phone) and is_signed_in(alice_laptop) and is_signed_in(alice)


# -- applications ----------------------------------------------------------------------------


def test_revoked_application_must_ask_consent_again_and_its_refresh_token_fails(
    mail_server: LiveServer,
) -> None:
    client, kept = make_client(mail_server), make_client(mail_server)
    username = make_user(mail_server)
    with browser(mail_server) as web:
        tokens = tokens_for(web, client, username, scope="read write")
        other = tokens_for(web, kept, username)
        page = web.get("/account/applications").text
        name = _client_names(mail_server, client)
        assert name in page and "<code>write</code>" in page

        done = post_form(
            web, "/account/applications", "/account/applications/revoke", client_id=client.client_id
        )
        assert done.headers["location"] == "/account/applications?notice=application-revoked"
        assert name not in web.get("/account/applications").text

        _, challenge = pkce_pair()
        again = web.get("/authorize", params=authorize_params(client, challenge))
        assert again.headers["location"].startswith("/interaction/")
        assert 'name="decision"' in web.get(again.headers["location"]).text

    refused = refresh(mail_server, client, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert not active(mail_server, client, tokens["access_token"])
    # The other application keeps its grant.
    assert refresh(mail_server, kept, other["refresh_token"]).status_code == 200


# -- download my data ------------------------------------------------------------------------


def test_data_export_contains_profile_roles_and_activity_but_no_secrets(
    mail_server: LiveServer,
) -> None:
    client = make_client(mail_server)
    username = make_user(mail_server)
    role = f"role-{username}"

    async def grant_role(services: Services) -> None:
        user = await services.store.users.by_username(username)
        assert user is not None
        await services.store.access.create_role(role)
        await services.store.access.assign(user.id, role)

    mail_server.call(grant_role)
    with browser(mail_server) as web:
        tokens = tokens_for(web, client, username)
        response = post_form(web, "/account", "/account/export")
        cookie = web.cookies["ost_session"]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment;")
    data = response.json()
    assert data["profile"]["username"] == username
    assert data["profile"]["email"] == f"{username}@example.com"
    assert data["roles"] == [role]
    assert [a["client_id"] for a in data["applications"]] == [client.client_id]
    assert data["sessions"][0]["current"] is True
    assert {"login.success", "consent.granted"} <= {e["type"] for e in data["audit_events"]}
    text = response.text
    for secret in (cookie, tokens["refresh_token"], tokens["access_token"]):
        assert secret not in text
    for marker in ("password_hash", "$argon2", "ost_", "id_hash", "token_hash"):
        assert marker not in text
    assert json.loads(text) == data


# -- delete my account -----------------------------------------------------------------------


def test_delete_account_needs_password_then_removes_user_tokens_and_names_in_audit(
    mail_server: LiveServer,
) -> None:
    client = make_client(mail_server)
    username = make_user(mail_server)
    user_id = user_of(mail_server, username).id
    with browser(mail_server) as web:
        tokens = tokens_for(web, client, username)
        wrong = post_form(web, "/account/delete", "/account/delete", password="wrong guess")
        assert wrong.status_code == 401
        assert user_of(mail_server, username) is not None

        done = post_form(web, "/account/delete", "/account/delete", password=PASSWORD)
        assert done.status_code == 200
        assert "Your account is deleted" in done.text
        assert 'ost_session=""' in done.headers["set-cookie"]
        assert not is_signed_in(web)
    assert user_of(mail_server, username) is None
    with browser(mail_server) as web:
        assert account_login(web, username).status_code == 401
    assert not active(mail_server, client, tokens["access_token"])
    assert not active(mail_server, client, tokens["refresh_token"])

    async def audit(services: Services) -> tuple[int, list[str]]:
        await services.audit.flush()
        named = await services.store.audit.query(user_id=user_id)
        stand_in = lifecycle.pseudonym(services, user_id)
        return len(named), [e.type for e in await services.store.audit.query(user_id=stand_in)]

    named, pseudonymous = mail_server.call(audit)
    assert named == 0
    assert {"login.success", "user.deleted"} <= set(pseudonymous)


# -- email verification ----------------------------------------------------------------------


def test_verification_link_confirms_the_email_once(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    address = f"{username}@example.com"
    with signed_in_browser(mail_server, username) as web:
        assert "not confirmed" in web.get("/account").text
        sent = post_form(web, "/account", "/account/verify-email")
        assert sent.headers["location"] == "/account?notice=verification-sent"
        link = link_in(mailbox.wait_for(address))
        assert "/account/verify?token=ost_ev_" in link
        confirmed = web.get(link)
        assert confirmed.status_code == 200 and "confirmed" in confirmed.text
        assert user_of(mail_server, username).email_verified is True
        assert web.get(link).status_code == 400
        assert "(confirmed)" in web.get("/account").text


def test_verification_link_fails_when_the_email_changed_since(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    with signed_in_browser(mail_server, username) as web:
        post_form(web, "/account", "/account/verify-email")
        link = link_in(mailbox.wait_for(f"{username}@example.com"))

        async def change_email(services: Services) -> None:
            user = await services.store.users.by_username(username)
            assert user is not None
            await services.store.users.update_profile(user.id, email=f"new-{username}@example.com")

        mail_server.call(change_email)
        refused = web.get(link)
        assert refused.status_code == 400
        assert "email address changed" in refused.text
    assert user_of(mail_server, username).email_verified is False


@pytest.mark.parametrize("path", ["/account/verify", "/account/reset"])
def test_garbage_links_are_refused(mail_server: LiveServer, path: str) -> None:
    with browser(mail_server) as web:
        for token in ["", "ost_rs_x", "ost_ev_x", "x" * 500]:
            assert web.get(path, params={"token": token}).status_code == 400
