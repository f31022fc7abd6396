"""Sign-in with GitHub (plain OAuth 2.0, RFC 6749 §4.1 with PKCE) against a fake GitHub.

The link key is GitHub's numeric user id; only the primary email, and only when GitHub
verified it, is used (to fill the account, or to link to an existing account when the
provider is trusted for email).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ostiary.domain.federation import Provider, redirect_uri
from ostiary.services import Services
from ostiary.web.browser import SESSION_COOKIE
from tests.conftest import LiveServer, unique
from tests.e2e.fake_github import FakeGitHub, GitHubUser, running_github
from tests.e2e.federation_browser import Browser, add_provider, button_href, claims_of
from tests.e2e.helpers import make_client, pkce_pair, query_of

APP_CALLBACK = "https://app.example.com/callback"


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHub]:
    with running_github() as fake:
        yield fake


@dataclass
class Setup:
    provider: str
    client_id: str
    secret: str
    login: str
    email: str


def _setup(
    server: LiveServer,
    github: FakeGitHub,
    emails: list[dict[str, Any]] | None = None,
    **provider: Any,
) -> Setup:
    name = unique("gh").lower()
    github.redirect_uris.append(redirect_uri(server.base_url, name))
    login = unique("octocat")
    email = f"{login}@example.com"
    if emails is None:
        emails = [{"email": email, "primary": True, "verified": True, "visibility": "private"}]
    github.user = GitHubUser(id=secrets.randbelow(10**9) + 1, login=login, emails=emails)

    async def ensure_role(services: Services) -> None:
        if await services.store.access.get_role("developer") is None:
            await services.store.access.create_role("developer")

    server.call(ensure_role)
    add_provider(
        server,
        Provider(
            name=name,
            display_name="GitHub",
            preset="github",
            issuer=github.base_url,
            client_id=github.client_id,
            client_secret=github.client_secret,
            scopes=("read:user", "user:email"),
            mapping=(f'login == "{login}" -> role developer',),
            options={"api_base": github.base_url},
            **provider,
        ),
    )
    app = make_client(
        server,
        redirect_uris=[APP_CALLBACK],
        scopes=["openid", "email", "profile"],
        first_party=True,
        include_roles=True,
    )
    assert app.secret is not None
    return Setup(name, app.client_id, app.secret, login, email)


def _through_github(
    server: LiveServer, setup: Setup, browser: Browser
) -> tuple[httpx.Response, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": setup.client_id,
        "redirect_uri": APP_CALLBACK,
        "scope": "openid email profile",
        "state": "gh-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = browser.follow(browser.get(f"{server.base_url}/authorize?{httpx.QueryParams(params)}"))
    assert page.status_code == 200, page.text
    assert "Sign in with GitHub" in page.text
    button = server.base_url + button_href(page.text, setup.provider)
    return browser.follow(browser.get(button), stop_at=APP_CALLBACK), verifier


def _sign_in(server: LiveServer, setup: Setup) -> dict[str, Any]:
    browser = Browser()
    try:
        final, verifier = _through_github(server, setup, browser)
    finally:
        browser.close()
    assert final.status_code == 303, final.text
    query = query_of(final.headers["location"])
    tokens = httpx.post(
        f"{server.base_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": APP_CALLBACK,
            "code_verifier": verifier,
        },
        auth=(setup.client_id, setup.secret),
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return claims_of(tokens.json()["id_token"])


def _refused(server: LiveServer, setup: Setup) -> httpx.Response:
    browser = Browser()
    try:
        answer, _ = _through_github(server, setup, browser)
        assert all(SESSION_COOKIE not in jar.cookies for jar in browser.jars.values())
    finally:
        browser.close()
    assert "Traceback" not in answer.text
    return answer


def _user(server: LiveServer, user_id: str) -> Any:
    async def get(services: Services) -> Any:
        return await services.store.users.get(user_id)

    return server.call(get)


def test_github_sign_in_end_to_end(server: LiveServer, github: FakeGitHub) -> None:
    setup = _setup(server, github)
    first = _sign_in(server, setup)
    assert first["iss"] == server.base_url
    assert first["email"] == setup.email and first["email_verified"] is True
    assert first["roles"] == ["developer"]
    assert first["amr"] == ["fed"]
    # RFC 7636 §4.3: GitHub got an S256 challenge; no nonce (not an OpenID Provider).
    sent = github.authorize_params[-1]
    assert sent["code_challenge_method"] == "S256" and "nonce" not in sent
    assert sent["scope"] == "read:user user:email"
    # Linked by the numeric id: a renamed GitHub login is still the same account.
    user = _user(server, str(first["sub"]))
    assert user.username == setup.login and user.password_hash is None
    github.user.login = unique("renamed")
    second = _sign_in(server, setup)
    assert second["sub"] == first["sub"]
    assert second.get("roles", []) == []  # the mapping said login == the old name


def test_unverified_primary_email_is_never_used(server: LiveServer, github: FakeGitHub) -> None:
    login = unique("nv")
    emails = [
        {"email": f"{login}@example.com", "primary": True, "verified": False},
        {"email": f"{login}@work.example", "primary": False, "verified": True},
    ]
    setup = _setup(server, github, emails)
    claims = _sign_in(server, setup)
    user = _user(server, str(claims["sub"]))
    # Neither the unverified primary nor the verified secondary address reaches the account.
    assert user.email is None
    assert "email" not in claims


@pytest.mark.parametrize("primary_verified", [False, True])
def test_only_a_verified_primary_email_links_to_an_existing_account(
    server: LiveServer, github: FakeGitHub, primary_verified: bool
) -> None:
    login = unique("link")
    address = f"{login}@example.com"
    emails = [{"email": address, "primary": True, "verified": primary_verified}]
    setup = _setup(server, github, emails, trust_email=True, provisioning="existing")

    async def local(services: Services) -> str:
        user = await services.store.users.add(
            username=unique("local"), email=address, email_verified=True, password_hash=None
        )
        return user.id

    local_id = server.call(local)
    if primary_verified:
        assert _sign_in(server, setup)["sub"] == local_id
        return
    answer = _refused(server, setup)
    assert answer.status_code == 403
    assert "no account here for this GitHub identity" in answer.text


def test_non_primary_verified_email_does_not_link(server: LiveServer, github: FakeGitHub) -> None:
    login = unique("sec")
    address = f"{login}@example.com"
    emails = [
        {"email": f"{login}@primary.example", "primary": True, "verified": False},
        {"email": address, "primary": False, "verified": True},
    ]
    setup = _setup(server, github, emails, trust_email=True, provisioning="existing")

    async def local(services: Services) -> None:
        await services.store.users.add(
            username=unique("local"), email=address, email_verified=True, password_hash=None
        )

    server.call(local)
    assert _refused(server, setup).status_code == 403


def test_github_token_error_with_http_200_is_a_clear_502(
    server: LiveServer, github: FakeGitHub
) -> None:
    setup = _setup(server, github)
    github.token_error = "bad_verification_code"
    try:
        answer = _refused(server, setup)
    finally:
        github.token_error = None
    assert answer.status_code == 502
    assert "Signing in with GitHub failed" in answer.text
