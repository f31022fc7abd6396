"""Linked identities on the account page: link another provider, unlink, never the last.

An account without a password (``OSTIARY_LOCAL_LOGIN=false``) that unlinked its only
upstream identity could never sign in again, so that unlink is refused; once a second
identity is linked (through the upstream, bound to this signed-in account), the first may go.
"""

from __future__ import annotations

import re

from ostiary.services import Services
from ostiary.storage.repos.federation_identities import FederationRepository
from tests.conftest import LiveServer, unique
from tests.e2e.federation_browser import Browser, add_oidc_provider
from tests.e2e.upstream_authlib import AuthlibProvider, Person


def _linked(server: LiveServer, subject: str, *providers: str) -> set[str]:
    """Which of ``providers`` link the upstream ``subject`` to an account here."""

    async def find(services: Services) -> set[str]:
        repo = FederationRepository(services.engine)
        return {p for p in providers if await repo.find(p, subject) is not None}

    return server.call(find)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_link_a_second_identity_then_unlink_the_first_but_never_the_last(
    no_passwords: LiveServer, upstream: AuthlibProvider
) -> None:
    first, second = (
        add_oidc_provider(no_passwords, upstream),
        add_oidc_provider(no_passwords, upstream),
    )
    subject = unique("fed")
    upstream.person = Person(sub=subject, email=f"{subject}@example.com")
    base = no_passwords.base_url
    browser = Browser()
    try:
        account = browser.follow(browser.get(f"{base}/federation/{first}/login"))
        assert account.status_code == 200, account.text
        assert _linked(no_passwords, subject, first, second) == {first}

        # The only way in: refused, and still linked.
        page = browser.get(f"{base}/account/identities")
        refused = browser.post(
            f"{base}/account/identities/unlink",
            {"csrf": _csrf(page.text), "provider": first, "subject": subject},
        )
        assert refused.status_code == 303
        assert refused.headers["location"].endswith("notice=last-method")
        assert _linked(no_passwords, subject, first, second) == {first}

        # Link the second provider through the upstream, bound to this account.
        started = browser.post(
            f"{base}/account/identities/link", {"csrf": _csrf(page.text), "provider": second}
        )
        linked = browser.follow(started, stop_at=f"{base}/account/identities")
        assert linked.headers["location"].endswith("notice=linked"), linked.headers
        assert _linked(no_passwords, subject, first, second) == {first, second}

        # Now the first may go.
        done = browser.post(
            f"{base}/account/identities/unlink",
            {"csrf": _csrf(page.text), "provider": first, "subject": subject},
        )
        assert done.headers["location"].endswith("notice=unlinked")
        assert _linked(no_passwords, subject, first, second) == {second}
    finally:
        browser.close()


def test_unlink_and_link_need_the_account_form_token(
    no_passwords: LiveServer, upstream: AuthlibProvider
) -> None:
    name = add_oidc_provider(no_passwords, upstream)
    subject = unique("fed")
    upstream.person = Person(sub=subject, email=f"{subject}@example.com")
    browser = Browser()
    try:
        browser.follow(browser.get(f"{no_passwords.base_url}/federation/{name}/login"))
        for path in ("/account/identities/unlink", "/account/identities/link"):
            forged = browser.post(
                no_passwords.base_url + path,
                {"csrf": "forged", "provider": name, "subject": subject},
            )
            assert forged.status_code == 403
        assert _linked(no_passwords, subject, name) == {name}
    finally:
        browser.close()
