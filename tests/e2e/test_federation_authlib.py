"""Federation with an independent OpenID Provider (Authlib's server) as the upstream.

Button → Authlib upstream → back → the relying party's callback: the RP's ID token has
Ostiary as ``iss``, a stable ``sub``, the mapped roles and the upstream ``acr``/``amr``.
Every misbehaviour the upstream can be switched to is refused with a clear page (never a
500) and no session (OIDC Core §3.1.3.7).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ostiary.domain.mfa import ACR_MFA, ACR_PWD
from ostiary.federation.sealing import client_secrets
from ostiary.services import Services
from ostiary.storage.repos.federation_providers import ProviderRepository
from ostiary.storage.tables import audit_events
from ostiary.web.browser import SESSION_COOKIE
from tests.conftest import LiveServer, unique
from tests.e2e.federation_browser import Browser, add_oidc_provider, button_href, claims_of
from tests.e2e.helpers import make_client, pkce_pair, query_of
from tests.e2e.upstream_authlib import AuthlibProvider, Behaviour, Person, running_provider

APP_CALLBACK = "https://app.example.com/callback"


@pytest.fixture(scope="module")
def upstream() -> Iterator[AuthlibProvider]:
    with running_provider() as provider:
        yield provider


@pytest.fixture(autouse=True)
def well_behaved(upstream: AuthlibProvider) -> Iterator[None]:
    upstream.behaviour = Behaviour()
    # A new person per test: accounts are linked by (provider, sub), never by email alone.
    username = unique("grace")
    upstream.person = Person(sub=username, email=f"{username}@example.com", groups=["staff"])
    yield
    upstream.behaviour = Behaviour()


@dataclass
class Setup:
    provider: str
    client_id: str
    secret: str


def _setup(
    server: LiveServer,
    upstream: AuthlibProvider,
    mapping: tuple[str, ...] = ('groups contains "staff" -> role employee',),
) -> Setup:
    async def ensure_role(services: Services) -> None:
        if await services.store.access.get_role("employee") is None:
            await services.store.access.create_role("employee")

    server.call(ensure_role)
    name = add_oidc_provider(server, upstream, label="Authlib", mapping=mapping)
    app = make_client(
        server,
        redirect_uris=[APP_CALLBACK],
        scopes=["openid", "email", "profile"],
        first_party=True,
        include_roles=True,
    )
    assert app.secret is not None
    return Setup(name, app.client_id, app.secret)


def _through_upstream(
    server: LiveServer, setup: Setup, browser: Browser
) -> tuple[httpx.Response, str]:
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": setup.client_id,
        "redirect_uri": APP_CALLBACK,
        "scope": "openid email profile",
        "state": "app-state",
        "nonce": "app-nonce",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    login_page = browser.follow(
        browser.get(f"{server.base_url}/authorize?{httpx.QueryParams(params)}")
    )
    assert login_page.status_code == 200, login_page.text
    button = server.base_url + button_href(login_page.text, setup.provider)
    return browser.follow(browser.get(button), stop_at=APP_CALLBACK), verifier


def _sign_in(server: LiveServer, setup: Setup) -> dict[str, Any]:
    browser = Browser()
    try:
        final, verifier = _through_upstream(server, setup, browser)
    finally:
        browser.close()
    assert final.status_code == 303, final.text
    query = query_of(final.headers["location"])
    assert query["state"] == "app-state", query
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


def test_oidc_core_3_1_sign_in_through_authlib_upstream(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    setup = _setup(server, upstream)
    upstream.behaviour.acr = "urn:example:loa:high"
    upstream.behaviour.amr = ["pwd", "otp"]
    first = _sign_in(server, setup)
    assert first["iss"] == server.base_url
    assert first["aud"] == setup.client_id
    assert first["nonce"] == "app-nonce"
    assert first["roles"] == ["employee"]
    # The provider's amr is carried; its acr is its own, and a provider not trusted for
    # MFA counts as one factor here whatever it says.
    assert first["acr"] == ACR_PWD
    assert first["amr"] == ["pwd", "otp"]
    # RFC 7636: Ostiary sent a S256 challenge, and Authlib (PKCE required) checked it.
    assert upstream.challenges[-1] == "S256"

    # Upstream group removed: the mapped role goes at the next login; sub stays stable.
    upstream.person.groups = []
    upstream.behaviour = Behaviour()
    second = _sign_in(server, setup)
    assert second["sub"] == first["sub"]
    assert second.get("roles", []) == []
    assert second["amr"] == ["fed"]  # no amr upstream: "signed in at a federated provider"
    assert second["acr"] == ACR_PWD


def test_mfa_at_a_provider_trusted_for_it_counts_here(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    """``--trust-mfa``: the upstream's RFC 8176 ``mfa`` (or an MFA acr) makes the session
    two-factor here, and the MFA policy asks for no second factor of its own."""
    setup = _setup(server, upstream)

    async def trust(services: Services) -> None:
        providers = ProviderRepository(services.engine, client_secrets(services.settings))
        provider = await providers.get(setup.provider)
        assert provider is not None
        await providers.replace(dataclasses.replace(provider, trust_mfa=True))
        await services.store.clients.update(setup.client_id, require_mfa=True)

    server.call(trust)
    upstream.behaviour.amr = ["pwd", "otp", "mfa"]
    claims = _sign_in(server, setup)
    assert claims["acr"] == ACR_MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def _audit_detail(server: LiveServer, provider: str) -> str:
    """The reason the last failed federated login of this provider was refused."""

    async def read(services: Services) -> str:
        await services.audit.flush()
        async with services.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(audit_events.c.details)
                    .where(audit_events.c.type == "login.failure")
                    .order_by(audit_events.c.id.desc())
                    .limit(50)
                )
            ).all()
        found = [r.details for r in rows if r.details.get("provider") == provider]
        assert found, "no audit event for the refused login"
        return str(found[0]["detail"])

    return server.call(read)


@pytest.mark.parametrize(
    ("switch", "reason"),
    [
        ("tamper_signature", "signature does not verify"),
        ("wrong_nonce", "nonce does not match"),
        ("wrong_issuer", "iss 'https://evil.example.com' is not the provider's"),
        ("unknown_kid", "no key 'rogue'"),
    ],
)
def test_oidc_core_3_1_3_7_misbehaving_upstream_is_refused_with_a_clear_page(
    server: LiveServer, upstream: AuthlibProvider, switch: str, reason: str
) -> None:
    setup = _setup(server, upstream)
    setattr(upstream.behaviour, switch, True)
    browser = Browser()
    try:
        answer, _ = _through_upstream(server, setup, browser)
        assert answer.status_code == 502, answer.text
        assert answer.headers["content-type"].startswith("text/html")
        assert "could not be verified" in answer.text
        assert f"Authlib {setup.provider}" in answer.text
        assert "Traceback" not in answer.text
        # No session was started: the account pages still ask for a sign-in.
        assert all(SESSION_COOKIE not in jar.cookies for jar in browser.jars.values())
        account = browser.get(f"{server.base_url}/account")
        assert account.status_code == 303
        assert account.headers["location"].startswith("/account/login")
    finally:
        browser.close()
    assert reason in _audit_detail(server, setup.provider)


def test_rfc9207_2_4_iss_in_the_authorization_response_must_be_the_providers(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    setup = _setup(server, upstream)
    upstream.behaviour.callback_iss = upstream.issuer
    assert _sign_in(server, setup)["iss"] == server.base_url
    # A mix-up attack: the response claims another issuer.
    upstream.behaviour.callback_iss = "https://evil.example.com"
    browser = Browser()
    try:
        answer, _ = _through_upstream(server, setup, browser)
    finally:
        browser.close()
    assert answer.status_code == 502 and "could not be verified" in answer.text
    assert "callback iss" in _audit_detail(server, setup.provider)


def test_rfc6749_4_1_2_1_refusal_at_the_upstream_is_a_clear_page(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    setup = _setup(server, upstream)
    upstream.behaviour.deny = True
    browser = Browser()
    try:
        answer, _ = _through_upstream(server, setup, browser)
    finally:
        browser.close()
    assert answer.status_code == 400
    assert "was cancelled" in answer.text


def _callback_url(server: LiveServer, setup: Setup, browser: Browser) -> str:
    """Start a flow and return the upstream's answer to Ostiary's callback, unvisited."""
    params = {
        "response_type": "code",
        "client_id": setup.client_id,
        "redirect_uri": APP_CALLBACK,
        "scope": "openid",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    page = browser.follow(browser.get(f"{server.base_url}/authorize?{httpx.QueryParams(params)}"))
    start = browser.get(server.base_url + button_href(page.text, setup.provider))
    back = browser.get(start.headers["location"])  # the upstream approves at once
    callback = back.headers["location"]
    assert callback.startswith(f"{server.base_url}/federation/{setup.provider}/callback")
    return str(callback)


def test_rfc9700_4_7_1_callback_is_single_use_and_bound_to_the_browser(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    setup = _setup(server, upstream)
    browser, victim, stranger = Browser(), Browser(), Browser()
    try:
        callback = _callback_url(server, setup, browser)
        assert browser.get(callback).status_code == 303
        again = browser.get(callback)
        assert again.status_code == 400 and "expired" in again.text

        stolen = _callback_url(server, setup, victim)
        refused = stranger.get(stolen)
        assert refused.status_code == 400 and "expired" in refused.text
        assert all(SESSION_COOKIE not in jar.cookies for jar in stranger.jars.values())
    finally:
        for each in (browser, victim, stranger):
            each.close()


def test_mapped_role_and_group_assigned_by_hand_become_manual(
    server: LiveServer, upstream: AuthlibProvider
) -> None:
    """A role or membership the mapping gave, then given by an administrator (admin API,
    CLI: both call the access repository), survives the upstream taking it away."""
    group = unique("staffers")

    async def make_group(services: Services) -> str:
        return (await services.store.access.create_group(group)).id

    group_id = server.call(make_group)
    setup = _setup(
        server,
        upstream,
        mapping=(
            'groups contains "staff" -> role employee',
            f'groups contains "staff" -> group {group}',
        ),
    )
    first = _sign_in(server, setup)
    user_id = str(first["sub"])
    assert first["roles"] == ["employee"]

    async def by_hand(services: Services) -> tuple[bool, bool]:
        access = services.store.access
        return await access.assign(user_id, "employee"), await access.add_member(group_id, user_id)

    assert server.call(by_hand) == (True, True)  # a change: the assignments are manual now
    assert server.call(by_hand) == (False, False)  # and idempotent

    upstream.person.groups = []
    second = _sign_in(server, setup)
    assert second["roles"] == ["employee"]

    async def groups_of(services: Services) -> frozenset[str]:
        return (await services.store.access.effective(user_id)).groups

    assert group in server.call(groups_of)
