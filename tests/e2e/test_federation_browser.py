"""Federated sign-in in real Chromium: two Ostiary servers, what a person sees and clicks.

The upstream Ostiary (OpenID Provider, OIDC Core §3.1) holds the person and their group; the
relying-party-facing Ostiary has passwords off (``local_login=False``) and signs people in
only through the upstream. The two sit on two host names, ``localhost`` and ``127.0.0.1``,
as two sites would: cookies ignore the port (RFC 6265 §8.5), so on one host name the
servers' same-named cookies would overwrite each other in a real browser.

The application is a tiny page on a free port: its redirect URI shows what it received,
and the test reads the code from the browser's address bar. (Playwright's ``route`` cannot
stand in for it: a route does not see the targets of redirects.)
"""

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from ostiary.domain.federation import Provider, redirect_uri
from ostiary.services import Services
from tests import databases
from tests.conftest import LiveServer, free_port, server_settings, start_server, unique
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.federation_browser import add_provider, claims_of
from tests.e2e.helpers import PASSWORD, make_client, pkce_pair
from tests.e2e.upstream_app import serving

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
SCREENSHOT = Path("/tmp/ostiary-federation-browser.png")


@dataclass
class Sites:
    upstream: LiveServer
    rp: LiveServer
    app_callback: str


@dataclass
class Setup:
    provider: str
    label: str
    username: str
    app_id: str
    app_secret: str
    callback: str


@dataclass
class Started:
    verifier: str
    state: str
    nonce: str


async def _app_callback(request: Request) -> HTMLResponse:
    shown = html.escape(request.url.query)
    return HTMLResponse(f"<h1>Example app</h1><p id=query>{shown}</p>")


@pytest.fixture(scope="module")
def sites(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    up_db = databases.create("sqlite", tmp_path_factory.mktemp("upstream"))
    up_port, rp_port = free_port(), free_port()
    up_settings = server_settings(up_db, up_port, issuer=f"http://localhost:{up_port}")
    upstream, stop_up = start_server(up_settings, up_port)
    try:
        rp_settings = server_settings(database_url, rp_port, local_login=False)
        rp, stop_rp = start_server(rp_settings, rp_port)
        try:
            app = Starlette(routes=[Route("/callback", _app_callback)])
            with serving(app) as app_url:
                yield Sites(upstream, rp, f"{app_url}/callback")
        finally:
            stop_rp()
    finally:
        stop_up()


@pytest.fixture(scope="module")
def chromium(sites: Sites) -> Iterator[Browser]:
    """One browser per module and backend, opened after the servers and closed before them:
    Playwright's sync API runs an event loop in this thread, so no ``asyncio.run`` (the
    database fixtures) may happen while it is open."""
    require_chromium()
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: no cookies carried over."""
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def _setup(sites: Sites, *, upstream_consent: bool) -> Setup:
    """An upstream client, user and group; the provider at the RP mapping the group to a role."""
    name = unique("up").lower()
    up_client = make_client(
        sites.upstream,
        name=unique("Ostiary at the RP"),
        redirect_uris=[redirect_uri(sites.rp.base_url, name)],
        scopes=["openid", "email", "profile"],
        first_party=not upstream_consent,
        include_groups=True,
    )
    username = unique("ada")

    async def upstream_user(services: Services) -> str:
        user = await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            email_verified=True,
            password_hash=await services.passwords.hash(PASSWORD),
        )
        group = await services.store.access.create_group(unique("admins"))
        await services.store.access.add_member(group.id, user.id)
        return group.name

    group = sites.upstream.call(upstream_user)
    label = f"Corp {name}"
    add_provider(
        sites.rp,
        Provider(
            name=name,
            display_name=label,
            preset="oidc",
            issuer=sites.upstream.base_url,
            client_id=up_client.client_id,
            client_secret=up_client.secret,
            scopes=("openid", "email", "profile"),
            mapping=(f'groups contains "{group}" -> role admin',),
        ),
    )

    async def ensure_role(services: Services) -> None:
        if await services.store.access.get_role("admin") is None:
            await services.store.access.create_role("admin")

    sites.rp.call(ensure_role)
    app = make_client(
        sites.rp,
        redirect_uris=[sites.app_callback],
        scopes=["openid", "email", "profile"],
        first_party=True,
        include_roles=True,
    )
    assert app.secret is not None
    return Setup(name, label, username, app.client_id, app.secret, sites.app_callback)


def _authorize(page: Page, sites: Sites, setup: Setup) -> Started:
    """The app sends the browser to the RP's authorization endpoint (RFC 6749 §4.1.1)."""
    verifier, challenge = pkce_pair()
    started = Started(verifier, unique("state"), unique("nonce"))
    params = {
        "response_type": "code",
        "client_id": setup.app_id,
        "redirect_uri": setup.callback,
        "scope": "openid email profile",
        "state": started.state,
        "nonce": started.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page.goto(f"{sites.rp.base_url}/authorize?{httpx.QueryParams(params)}")
    return started


def _open_login_page(page: Page, sites: Sites, setup: Setup) -> Started:
    started = _authorize(page, sites, setup)
    page.wait_for_url(re.compile(re.escape(sites.rp.base_url) + r"/authorize\?"))
    return started


def _provider_button(page: Page, setup: Setup) -> Locator:
    return page.get_by_role("link", name=f"Sign in with {setup.label}")


def _upstream_login(page: Page, sites: Sites, setup: Setup) -> None:
    """Click the provider's button, then sign in on the upstream's own login page."""
    _provider_button(page, setup).click()
    page.wait_for_url(re.compile(re.escape(sites.upstream.base_url) + r"/authorize\?"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.locator("input[name=username]").fill(setup.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def _code_at_the_app(page: Page, setup: Setup, started: Started) -> str:
    page.wait_for_url(f"{setup.callback}?**")
    expect(page.get_by_role("heading", name="Example app")).to_be_visible()
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query.get("state") == started.state, query
    assert "error" not in query, query
    return query["code"]


def _id_token_claims(sites: Sites, setup: Setup, code: str, verifier: str) -> dict[str, object]:
    """The app redeems the code (RFC 6749 §4.1.3) as a confidential client."""
    tokens = httpx.post(
        f"{sites.rp.base_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": setup.callback,
            "code_verifier": verifier,
        },
        auth=(setup.app_id, setup.app_secret),
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return claims_of(tokens.json()["id_token"])


def test_oidc_core_3_1_federated_sign_in_through_the_upstream_in_chromium(
    sites: Sites, context: BrowserContext
) -> None:
    setup = _setup(sites, upstream_consent=True)
    page = context.new_page()
    with screenshot_on_failure(page, SCREENSHOT):
        started = _open_login_page(page, sites, setup)
        # local_login=False: the provider's button, and no password field at all.
        expect(_provider_button(page, setup)).to_be_visible()
        expect(page.locator("input[type=password]")).to_have_count(0)
        expect(page.get_by_role("button", name="Sign in", exact=True)).to_have_count(0)

        _upstream_login(page, sites, setup)
        # The upstream asks the person to allow Ostiary-at-the-RP (not a first-party client).
        expect(page.get_by_role("heading", name="Allow access?")).to_be_visible()
        assert page.url.startswith(sites.upstream.base_url)
        page.get_by_role("button", name="Allow").click()

        code = _code_at_the_app(page, setup, started)
        claims = _id_token_claims(sites, setup, code, started.verifier)
        assert claims["iss"] == sites.rp.base_url
        assert claims["aud"] == setup.app_id
        assert claims["nonce"] == started.nonce
        assert claims["roles"] == ["admin"]  # the upstream group, mapped at the RP
        assert claims["amr"] == ["pwd"]  # the upstream's amr, carried into the RP's token

        # SSO: the RP session lives, so a second request goes straight back to the app.
        again = _authorize(page, sites, setup)
        code = _code_at_the_app(page, setup, again)
        second = _id_token_claims(sites, setup, code, again.verifier)
        assert second["sub"] == claims["sub"]

        _assert_cookies_are_httponly_samesite_lax(page, context, sites)


def _assert_cookies_are_httponly_samesite_lax(
    page: Page, context: BrowserContext, sites: Sites
) -> None:
    """docs/oauth.md: ost_session is HttpOnly, SameSite=Lax, Secure only under https."""
    cookies = context.cookies([sites.rp.base_url, sites.upstream.base_url])
    by_site = {(c["domain"], c["name"]) for c in cookies}
    for host in ("127.0.0.1", "localhost"):
        assert {(host, "ost_session"), (host, "ost_browser")} <= by_site, by_site
    for cookie in cookies:
        assert cookie["httpOnly"], cookie["name"]
        assert cookie["sameSite"] == "Lax", cookie["name"]
        assert not cookie["secure"], cookie["name"]  # http issuers: no Secure
        assert cookie["path"] == "/", cookie["name"]
    # HttpOnly as the pages' scripts see it: nothing readable on either site.
    for site in (sites.rp, sites.upstream):
        page.goto(f"{site.base_url}/account")
        assert page.evaluate("document.cookie") == ""


@pytest.mark.parametrize("where", ["deny at the upstream consent", "cancel at the upstream login"])
def test_rfc6749_4_1_2_1_cancel_at_the_upstream_shows_a_clear_page_in_chromium(
    sites: Sites, context: BrowserContext, where: str
) -> None:
    """The upstream answers access_denied; the RP shows its error page, no session, no code."""
    setup = _setup(sites, upstream_consent=True)
    page = context.new_page()
    with screenshot_on_failure(page, SCREENSHOT):
        _open_login_page(page, sites, setup)
        callback = f"{sites.rp.base_url}/federation/{setup.provider}/callback"
        if where == "deny at the upstream consent":
            _upstream_login(page, sites, setup)
            expect(page.get_by_role("heading", name="Allow access?")).to_be_visible()
            button = page.get_by_role("button", name="Deny")
        else:
            _provider_button(page, setup).click()
            page.wait_for_url(re.compile(re.escape(sites.upstream.base_url) + r"/authorize\?"))
            button = page.get_by_role("button", name="Cancel")
        with page.expect_response(lambda r: r.url.startswith(callback)) as answer:
            button.click()
        assert answer.value.status == 400
        page.wait_for_url(f"{callback}?**")
        expect(page.get_by_role("heading", name="Something is not right")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text(f"Sign-in with {setup.label} was cancelled.")
        # Nothing of the failure leaks onto the page: no code, no exception text.
        body = page.locator("body").inner_text()
        assert "Traceback" not in body and "access_denied" not in body
        rp_cookies = {c["name"] for c in context.cookies([sites.rp.base_url])}
        assert "ost_session" not in rp_cookies
