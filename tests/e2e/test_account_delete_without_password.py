"""Deleting an account that has no password (signed in through an upstream provider).

There is no password to ask for, so the page asks for a recent sign-in (within
``RECENT_SIGN_IN`` seconds) and the username typed out; an account with a password is
still asked for it (tests/e2e/test_account_pages.py).
"""

from __future__ import annotations

import re

import httpx
import pytest

from ostiary import clock
from ostiary.services import Services
from ostiary.web.account_routes import RECENT_SIGN_IN
from tests.conftest import LiveServer, unique
from tests.e2e.federation_browser import Browser, add_oidc_provider
from tests.e2e.upstream_authlib import AuthlibProvider, Person


def _signed_in(server: LiveServer, upstream: AuthlibProvider) -> tuple[Browser, str]:
    name = add_oidc_provider(server, upstream)
    subject = unique("fed")
    upstream.person = Person(sub=subject, email=f"{subject}@example.com")
    browser = Browser()
    login = browser.get(f"{server.base_url}/federation/{name}/login")
    account = browser.follow(login)
    assert account.status_code == 200, account.text
    username = re.search(r'name="username" value="([^"]+)"', _delete_page(browser, server).text)
    assert username, "the delete page names the account"
    return browser, username.group(1)


def _delete_page(browser: Browser, server: LiveServer) -> httpx.Response:
    page = browser.get(f"{server.base_url}/account/delete")
    assert page.status_code == 200
    return page


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _exists(server: LiveServer, username: str) -> bool:
    async def find(services: Services) -> bool:
        return await services.store.users.by_username(username) is not None

    return server.call(find)


def test_recent_federated_sign_in_deletes_after_typing_the_username(
    no_passwords: LiveServer, upstream: AuthlibProvider
) -> None:
    browser, username = _signed_in(no_passwords, upstream)
    try:
        page = _delete_page(browser, no_passwords)
        assert 'name="password"' not in page.text and 'name="confirm_username"' in page.text
        wrong = browser.post(
            f"{no_passwords.base_url}/account/delete",
            {"csrf": _csrf(page.text), "confirm_username": username + "x"},
        )
        assert wrong.status_code == 400 and "Type your username exactly" in wrong.text
        assert _exists(no_passwords, username)
        done = browser.post(
            f"{no_passwords.base_url}/account/delete",
            {"csrf": _csrf(page.text), "confirm_username": username},
        )
        assert done.status_code == 200 and "Your account is deleted" in done.text
        assert not _exists(no_passwords, username)
    finally:
        browser.close()


def test_old_sign_in_must_sign_in_again_before_deleting(
    no_passwords: LiveServer, upstream: AuthlibProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser, username = _signed_in(no_passwords, upstream)
    try:
        csrf = _csrf(_delete_page(browser, no_passwords).text)
        real = clock.now
        monkeypatch.setattr(clock, "now", lambda: real() + RECENT_SIGN_IN + 60)
        page = _delete_page(browser, no_passwords)
        assert "needs a recent sign-in" in page.text
        assert 'name="confirm_username"' not in page.text
        refused = browser.post(
            f"{no_passwords.base_url}/account/delete",
            {"csrf": csrf, "confirm_username": username},
        )
        assert refused.status_code == 403 and "needs a recent sign-in" in refused.text
        assert _exists(no_passwords, username)
    finally:
        browser.close()
