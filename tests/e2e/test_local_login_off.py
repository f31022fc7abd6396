"""``OSTIARY_LOCAL_LOGIN=false``: no password is stored at all, and no page offers one.

The account sign-in page shows the upstream providers' buttons instead of the password
form; the admin API, the CLI and the password pages refuse a password with a clear reason.
"""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from ostiary.admin.bootstrap import ADMIN_SCOPE, bootstrap
from ostiary.services import Services
from tests.conftest import (
    SECRET_KEY,
    LiveServer,
    unique,
)
from tests.e2e.federation_browser import Browser, add_oidc_provider
from tests.e2e.helpers import PASSWORD
from tests.e2e.processes import clean_env
from tests.e2e.test_admin_api import api_client, client_token
from tests.e2e.upstream_authlib import AuthlibProvider, Person
from tests.integration.test_cli import failed, ostiary

NO_PASSWORDS = "Passwords are not used on this server"


def _button(html: str, name: str) -> str:
    match = re.search(rf'href="(/federation/{name}/login)"', html)
    assert match, html
    return match.group(1)


def test_account_login_page_shows_password_form_and_enabled_buttons(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    shown = add_oidc_provider(server, upstream)
    hidden = add_oidc_provider(server, upstream, enabled=False)
    page = httpx.get(f"{server.base_url}/account/login")
    assert page.status_code == 200
    assert 'name="password"' in page.text and "Forgot your password?" in page.text
    assert f"Sign in with Corp {shown}" in page.text
    assert _button(page.text, shown)
    assert f"/federation/{hidden}/login" not in page.text


def test_account_login_without_passwords_signs_in_with_a_provider(
    no_passwords: LiveServer, upstream: AuthlibProvider
) -> None:
    name = add_oidc_provider(no_passwords, upstream)
    username = unique("fed")
    upstream.person = Person(sub=username, email=f"{username}@example.com")
    browser = Browser()
    try:
        page = browser.get(f"{no_passwords.base_url}/account/login")
        assert page.status_code == 200
        assert 'name="password"' not in page.text and "Forgot your password?" not in page.text
        account = browser.follow(browser.get(no_passwords.base_url + _button(page.text, name)))
        assert account.status_code == 200, account.text
        assert str(account.url) == f"{no_passwords.base_url}/account"
        # Signed in now; the password page says why there is nothing to change.
        refused = browser.get(f"{no_passwords.base_url}/account/password")
        assert refused.status_code == 403 and NO_PASSWORDS in refused.text
        posted = browser.post(f"{no_passwords.base_url}/account/password", {"csrf": "x"})
        assert posted.status_code == 403 and NO_PASSWORDS in posted.text
    finally:
        browser.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/account/login"),
        ("GET", "/account/forgot"),
        ("POST", "/account/forgot"),
        ("GET", "/account/reset?token=anything"),
        ("POST", "/account/reset"),
    ],
)
def test_password_pages_refuse_with_a_clear_message(
    no_passwords: LiveServer, method: str, path: str
) -> None:
    data = {"username": "someone", "password": PASSWORD, "identifier": "someone"}
    answer = httpx.request(
        method, no_passwords.base_url + path, data=data if method == "POST" else None
    )
    assert answer.status_code == 403
    assert NO_PASSWORDS in answer.text
    assert answer.headers["content-type"].startswith("text/html")


def test_admin_api_refuses_to_store_a_password(no_passwords: LiveServer) -> None:
    made = no_passwords.call(
        lambda services: bootstrap(services, unique("root"), "boot " + secrets.token_hex(8))
    )
    token = client_token(no_passwords, made.client_id, made.client_secret, ADMIN_SCOPE)
    with api_client(no_passwords, token) as http:
        refused = http.post("/users", json={"username": unique("u"), "password": PASSWORD})
        assert refused.status_code == 422, refused.text
        assert "OSTIARY_LOCAL_LOGIN=false" in refused.json()["detail"]
        created = http.post("/users", json={"username": unique("u")})
        assert created.status_code == 201
        assert created.json()["has_password"] is False
        changed = http.patch(f"/users/{created.json()['id']}", json={"password": PASSWORD})
        assert changed.status_code == 422
        assert "no password is stored" in changed.json()["detail"]


def test_cli_refuses_to_store_a_password(no_passwords: LiveServer) -> None:
    env = clean_env(
        OSTIARY_DATABASE_URL=no_passwords.settings.database_url,
        OSTIARY_SECRET_KEY=SECRET_KEY,
        OSTIARY_LOCAL_LOGIN="false",
    )
    username = unique("cli")
    failed(
        ostiary(env, "user", "create", "--username", username, "--password-stdin", stdin=PASSWORD),
        "OSTIARY_LOCAL_LOGIN=false",
    )

    async def exists(services: Services) -> bool:
        return await services.store.users.by_username(username) is not None

    assert not no_passwords.call(exists)
    ostiary_ok = ostiary(env, "user", "create", "--username", username)
    assert ostiary_ok.returncode == 0, ostiary_ok.stderr
    failed(
        ostiary(env, "user", "set-password", username, stdin=PASSWORD + "\n"),
        "no password is stored",
    )
