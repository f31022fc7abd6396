"""Federation with another Ostiary instance as the upstream OpenID Provider (OIDC Core §3.1).

Two real servers on two free ports: the upstream holds the person and their groups; the
relying-party-facing Ostiary signs them in through the upstream and maps groups to roles.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ostiary.domain.federation import Provider, redirect_uri
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from tests import databases
from tests.conftest import LiveServer, free_port, server_settings, start_server, unique
from tests.e2e.federation_browser import (
    Browser,
    add_provider,
    button_href,
    claims_of,
    csrf_of,
    interaction_form,
    password_login,
)
from tests.e2e.helpers import PASSWORD, make_client, pkce_pair

APP_CALLBACK = "https://app.example.com/callback"


@dataclass
class Pair:
    upstream: LiveServer
    rp: LiveServer


@pytest.fixture(scope="module")
def pair(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    up_url = databases.create("sqlite", tmp_path_factory.mktemp("upstream"))
    up_port, rp_port = free_port(), free_port()
    upstream, stop_up = start_server(server_settings(up_url, up_port), up_port)
    rp, stop_rp = start_server(server_settings(database_url, rp_port), rp_port)
    yield Pair(upstream, rp)
    stop_rp()
    stop_up()


@dataclass
class Setup:
    provider: str
    username: str
    user_id: str
    group_id: str
    rp_client_id: str
    rp_secret: str


def _setup(pair: Pair, *, mapping: tuple[str, ...], trust_email: bool = False) -> Setup:
    name = unique("up").lower()
    up_client = make_client(
        pair.upstream,
        redirect_uris=[redirect_uri(pair.rp.base_url, name)],
        scopes=["openid", "email", "profile"],
        first_party=True,
        include_groups=True,
    )
    username = unique("ada")

    async def upstream_user(services: Services) -> tuple[str, str, str]:
        user = await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            email_verified=True,
            password_hash=await services.passwords.hash(PASSWORD),
        )
        group = await services.store.access.create_group(unique("admins"))
        await services.store.access.add_member(group.id, user.id)
        return user.id, group.id, group.name

    user_id, group_id, group_name = pair.upstream.call(upstream_user)
    rules = tuple(rule.replace("GROUP", group_name) for rule in mapping)
    add_provider(
        pair.rp,
        Provider(
            name=name,
            display_name=f"Upstream {name}",
            preset="oidc",
            issuer=pair.upstream.base_url,
            client_id=up_client.client_id,
            client_secret=up_client.secret,
            scopes=("openid", "email", "profile"),
            mapping=rules,
            trust_email=trust_email,
        ),
    )

    async def ensure_role(services: Services) -> None:
        if await services.store.access.get_role("admin") is None:
            await services.store.access.create_role("admin")

    pair.rp.call(ensure_role)
    app = make_client(
        pair.rp,
        redirect_uris=[APP_CALLBACK],
        scopes=["openid", "email", "profile"],
        first_party=True,
        include_roles=True,
    )
    assert app.secret is not None
    return Setup(name, username, user_id, group_id, app.client_id, app.secret)


def _through_upstream(pair: Pair, setup: Setup, browser: Browser) -> tuple[httpx.Response, str]:
    """Button → upstream login → back; the RP's answer to its callback, and the verifier."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": setup.rp_client_id,
        "redirect_uri": APP_CALLBACK,
        "scope": "openid email profile",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize = f"{pair.rp.base_url}/authorize?{httpx.QueryParams(params)}"
    login_page = browser.follow(browser.get(authorize))
    assert login_page.status_code == 200, login_page.text
    button = pair.rp.base_url + button_href(login_page.text, setup.provider)
    upstream_page = browser.follow(browser.get(button))
    assert str(upstream_page.url).startswith(pair.upstream.base_url), upstream_page.url
    posted = password_login(browser, upstream_page, setup.username, PASSWORD)
    return browser.follow(posted, stop_at=APP_CALLBACK), verifier


def _sign_in(pair: Pair, setup: Setup) -> dict[str, object]:
    """The whole flow to the relying party's callback; the RP's ID token claims."""
    browser = Browser()
    try:
        final, verifier = _through_upstream(pair, setup, browser)
    finally:
        browser.close()
    assert final.status_code == 303, final.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(final.headers["location"]).query).items()}
    assert query.get("state") == "s1" and "code" in query, query
    with httpx.Client(timeout=30) as http:
        tokens = http.post(
            f"{pair.rp.base_url}/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": APP_CALLBACK,
                "code_verifier": verifier,
            },
            auth=(setup.rp_client_id, setup.rp_secret),
        )
    assert tokens.status_code == 200, tokens.text
    return claims_of(tokens.json()["id_token"])


def test_oidc_core_3_1_sign_in_through_upstream_ostiary_maps_roles(pair: Pair) -> None:
    setup = _setup(pair, mapping=('groups contains "GROUP" -> role admin',))
    first = _sign_in(pair, setup)
    assert first["iss"] == pair.rp.base_url
    assert first["roles"] == ["admin"]
    assert first["amr"] == ["pwd"]  # the upstream's amr, carried
    assert first["nonce"] == "n1"

    # Removing the person from the upstream group drops the mapped role at the next login.
    async def leave(services: Services) -> None:
        await services.store.access.remove_member(setup.group_id, setup.user_id)

    pair.upstream.call(leave)
    second = _sign_in(pair, setup)
    assert second["sub"] == first["sub"]  # stable across logins: linked by (provider, sub)
    assert "roles" not in second or second["roles"] == []


def test_manual_role_survives_mapping_reevaluation(pair: Pair) -> None:
    setup = _setup(pair, mapping=('groups contains "nobody-has-this" -> role admin',))
    first = _sign_in(pair, setup)
    assert "roles" not in first or first["roles"] == []

    async def assign(services: Services) -> None:
        await services.store.access.assign(str(first["sub"]), "admin")

    pair.rp.call(assign)
    second = _sign_in(pair, setup)
    assert second["roles"] == ["admin"]


def test_deleting_a_provider_takes_back_what_its_mapping_gave(pair: Pair) -> None:
    """Nothing would re-evaluate those roles again: they go with the provider."""
    setup = _setup(pair, mapping=('groups contains "GROUP" -> role admin',))
    first = _sign_in(pair, setup)
    assert first["roles"] == ["admin"]
    user_id = str(first["sub"])

    async def add_manual_role_then_delete_provider(services: Services) -> list[str]:
        if await services.store.access.get_role("auditor") is None:
            await services.store.access.create_role("auditor")
        await services.store.access.assign(user_id, "auditor")
        repo = ProviderRepository(services.engine, client_secrets(services.settings))
        assert await repo.delete(setup.provider)
        return await services.store.access.direct_roles(user_id)

    assert pair.rp.call(add_manual_role_then_delete_provider) == ["auditor"]


def test_email_alone_never_links_to_an_existing_account(pair: Pair) -> None:
    setup = _setup(pair, mapping=())

    async def same_email(services: Services) -> None:
        await services.store.users.add(
            username=unique("local"), email=f"{setup.username}@example.com", password_hash=None
        )

    pair.rp.call(same_email)
    browser = Browser()
    try:
        answer, _ = _through_upstream(pair, setup, browser)
    finally:
        browser.close()
    assert answer.status_code == 409
    assert "exists already" in answer.text and "link" in answer.text


def test_trusted_verified_email_links_to_the_existing_account(pair: Pair) -> None:
    setup = _setup(pair, mapping=(), trust_email=True)

    async def same_email(services: Services) -> str:
        user = await services.store.users.add(
            username=unique("local"), email=f"{setup.username}@example.com", password_hash=None
        )
        return user.id

    local_id = pair.rp.call(same_email)
    assert _sign_in(pair, setup)["sub"] == local_id


def test_local_login_false_hides_and_refuses_passwords(pair: Pair) -> None:
    setup = _setup(pair, mapping=())
    port = free_port()
    settings = server_settings(pair.rp.settings.database_url, port, local_login=False)
    server, stop = start_server(settings, port)
    try:
        username = unique("pw")

        async def with_password(services: Services) -> None:
            await services.store.users.add(
                username=username, email=None, password_hash=await services.passwords.hash(PASSWORD)
            )

        server.call(with_password)
        browser = Browser()
        try:
            params = {
                "response_type": "code",
                "client_id": setup.rp_client_id,
                "redirect_uri": APP_CALLBACK,
                "scope": "openid",
                "code_challenge": pkce_pair()[1],
                "code_challenge_method": "S256",
            }
            page = browser.follow(
                browser.get(f"{server.base_url}/authorize?{httpx.QueryParams(params)}")
            )
            assert 'name="password"' not in page.text
            assert f"/federation/{setup.provider}/login" in page.text
            refused = password_login_forced(browser, page, username)
            assert refused.status_code == 401
        finally:
            browser.close()
    finally:
        stop()


def password_login_forced(browser: Browser, page: httpx.Response, username: str) -> httpx.Response:
    """POST the password form the page no longer shows, as a script would (the
    interaction is the one the page's Cancel form posts to)."""
    abort = interaction_form(page, "abort")
    return browser.post(
        abort.removesuffix("/abort") + "/login",
        {"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
    )


def test_rfc6749_4_1_2_1_cancel_at_upstream_shows_a_clear_page(pair: Pair) -> None:
    setup = _setup(pair, mapping=())
    browser = Browser()
    try:
        params = {
            "response_type": "code",
            "client_id": setup.rp_client_id,
            "redirect_uri": APP_CALLBACK,
            "scope": "openid",
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
        }
        page = browser.follow(
            browser.get(f"{pair.rp.base_url}/authorize?{httpx.QueryParams(params)}")
        )
        upstream_page = browser.follow(
            browser.get(pair.rp.base_url + button_href(page.text, setup.provider))
        )
        abort = interaction_form(upstream_page, "abort")
        answer = browser.follow(browser.post(abort, {"csrf": csrf_of(upstream_page.text)}))
    finally:
        browser.close()
    assert answer.status_code == 400
    assert "was cancelled" in answer.text
