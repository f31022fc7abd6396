"""Passkeys against a real server: the JSON endpoints driven over HTTP by a software
authenticator (tests/e2e/webauthn_helpers.py), then the pages in Chromium with its
virtual WebAuthn authenticator (CDP WebAuthn domain: ctap2, internal transport, resident
keys, user verification). ID tokens are checked by Authlib against the published JWKS.

The server's issuer is ``http://localhost:PORT``: browsers refuse an IP address as a
WebAuthn RP ID (§5.1.3 step 8, a valid domain), and http://localhost is a secure context.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from ostiary.domain.mfa import Factor
from ostiary.services import Services
from tests.conftest import (
    SECRET_KEY,
    LiveServer,
    free_port,
    server_settings,
    start_server,
    unique,
)
from tests.e2e.account_fixtures import account_login
from tests.e2e.chromium import launch_chromium, require_chromium
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    csrf_of,
    interaction_of,
    make_user,
    query_of,
)
from tests.e2e.oidc_helpers import Provider, RelyingParty, make_oidc_client
from tests.e2e.processes import OSTIARY, Servers, clean_env, cli_json
from tests.e2e.webauthn_helpers import SoftAuthenticator, VirtualAuthenticator, b64url

T = TypeVar("T")
TIMEOUT_MS = 15_000
CALLBACK = "https://app.example.com/callback"
SECURITY = "/account/security"


def _start(database_url: str, **overrides: Any) -> Iterator[LiveServer]:
    port = free_port()
    settings = server_settings(database_url, port, issuer=f"http://localhost:{port}", **overrides)
    live, stop = start_server(settings, port)
    yield live
    stop()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    yield from _start(database_url)


@pytest.fixture(scope="module")
def mfa_off(database_url: str) -> Iterator[LiveServer]:
    yield from _start(database_url, mfa="off")


def web_of(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)


def origin_of(web: httpx.Client) -> str:
    return str(web.base_url).rstrip("/")


def of_user(server: LiveServer, username: str, read: Callable[[Services, str], Awaitable[T]]) -> T:
    """``read(services, user_id)`` in the server's loop, for the user named ``username``."""

    async def run(services: Services) -> T:
        user = await services.store.users.by_username(username)
        assert user is not None
        return await read(services, user.id)

    return server.call(run)


def factors_of(server: LiveServer, username: str) -> list[Factor]:
    return of_user(server, username, lambda services, id: services.store.factors.for_user(id))


def events_of(server: LiveServer, username: str, type: str) -> list[Any]:
    return of_user(
        server, username, lambda services, id: services.store.audit.query(user_id=id, type=type)
    )


@contextlib.contextmanager
def signed_in(base_url: str, username: str) -> Iterator[httpx.Client]:
    """A browser signed in on /account/login (no factor yet: the password alone)."""
    with web_of(base_url) as web:
        answer = account_login(web, username)
        assert answer.status_code == 303, answer.text
        yield web


def post_json(
    web: httpx.Client, url: str, csrf: str | None, body: dict[str, Any] | None = None
) -> httpx.Response:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return web.post(url, json=body or {}, headers=headers)


def register_over_http(
    web: httpx.Client, authenticator: SoftAuthenticator, name: str = ""
) -> dict[str, Any]:
    """The security page's script, over HTTP: options, create(), the credential posted."""
    csrf = csrf_of(web.get(SECURITY).text)
    options = post_json(web, f"{SECURITY}/passkeys/options", csrf)
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json(), origin_of(web))
    done = post_json(web, f"{SECURITY}/passkeys", csrf, {"name": name, "credential": credential})
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    return dict(done.json())


def user_with_passkey(server: LiveServer, authenticator: SoftAuthenticator) -> str:
    username = make_user(server)
    with signed_in(server.base_url, username) as web:
        register_over_http(web, authenticator)
    return username


def relying_party(base_url: str, client: RegisteredClient) -> RelyingParty:
    """An Authlib client of the server at ``base_url``, asking for ``openid``."""
    return RelyingParty(Provider.discover(base_url), client, "openid")


def passkey_sign_in(
    web: httpx.Client,
    interaction: str,
    csrf: str,
    authenticator: SoftAuthenticator,
    **get: Any,
) -> httpx.Response:
    """The login or second-factor page's script: options, get(), the assertion posted."""
    options = post_json(web, f"{interaction}/passkey/options", csrf)
    assert options.status_code == 200, options.text
    assertion = authenticator.get(options.json(), origin_of(web), **get)
    return post_json(web, f"{interaction}/passkey", csrf, {"credential": assertion})


def to_callback(web: httpx.Client, location: str) -> str:
    """Follow the interaction (consenting if asked) until the redirect to the client."""
    page = web.get(location)
    if page.status_code == 200 and 'name="decision"' in page.text:
        page = web.post(
            f"{location}/consent", data={"csrf": csrf_of(page.text), "decision": "allow"}
        )
    assert page.status_code == 303, page.text
    assert page.headers["location"].startswith(CALLBACK), page.headers["location"]
    return page.headers["location"]


def id_token_amr(rp: RelyingParty, request: Any, callback: str) -> list[str]:
    tokens = rp.redeem(request, callback)
    assert tokens.id_token is not None
    claims = rp.validate_id_token(
        tokens.id_token, nonce=request.nonce, access_token=tokens.access_token
    )
    return list(claims["amr"])


# -- registration over HTTP -------------------------------------------------------------------


def test_webauthn_l3_s7_1_first_passkey_comes_with_recovery_codes_shown_once(
    server: LiveServer,
) -> None:
    username = make_user(server)
    with signed_in(server.base_url, username) as other, signed_in(server.base_url, username) as web:
        authenticator = SoftAuthenticator()
        first = register_over_http(web, authenticator, "  Laptop  ")
        assert first["factor"]["kind"] == "passkey" and first["factor"]["name"] == "Laptop"
        assert len(first["recovery_codes"]) == 10
        # §5.4.3: the second registration's options exclude the first passkey.
        csrf = csrf_of(web.get(SECURITY).text)
        options = post_json(web, f"{SECURITY}/passkeys/options", csrf).json()
        excluded = [c["id"] for c in options["excludeCredentials"]]
        assert excluded == [b64url(authenticator.credentials[0].credential_id)]
        second = register_over_http(web, SoftAuthenticator())
        assert second["factor"]["name"] == "Passkey" and second["recovery_codes"] == []
        # Still signed in here; the session elsewhere ended with the first enrolment.
        assert web.get(SECURITY).status_code == 200
        assert other.get(SECURITY).status_code == 303
    stored = factors_of(server, username)
    assert [f.kind for f in stored] == ["passkey", "passkey"]
    assert all(f.discoverable and f.credential_id for f in stored)
    enrolled = events_of(server, username, "mfa.enrolled")
    assert [e.details["kind"] for e in enrolled] == ["passkey", "passkey"]
    assert [e.details["recovery_codes"] for e in enrolled] == [10, 0]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"{}", {}, 403, "expired"),  # no CSRF token
        (b'{"csrf": "forged"}', {}, 403, "expired"),
        (b"not json", {"x-csrf-token": "{csrf}"}, 400, "not JSON"),
        (b"[1, 2]", {"x-csrf-token": "{csrf}"}, 400, "JSON object"),
        (b'{"a": "' + b"x" * 70_000 + b'"}', {"x-csrf-token": "{csrf}"}, 413, "too large"),
    ],
)
def test_account_passkey_endpoints_refuse_forged_and_malformed_requests(
    server: LiveServer, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    with signed_in(server.base_url, make_user(server)) as web:
        csrf = csrf_of(web.get(SECURITY).text)
        sent = {k: v.format(csrf=csrf) for k, v in headers.items()}
        for url in (f"{SECURITY}/passkeys/options", f"{SECURITY}/passkeys"):
            answer = web.post(url, content=body, headers=sent)
            assert answer.status_code == status, answer.text
            assert message in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "no passkey credential"),
        ({"credential": "text"}, "no passkey credential"),
        ({"credential": {}}, "malformed"),
        ({"credential": {"response": {"clientDataJSON": "%%%"}}}, "malformed"),
        ({"name": 7, "credential": {}}, "must be text"),
        ({"name": "x" * 101, "credential": {}}, "at most 100"),
        ({"name": "tab\there", "credential": {}}, "control characters"),
    ],
)
def test_a_malformed_registration_is_a_400_with_a_clear_message(
    server: LiveServer, body: dict[str, Any], message: str
) -> None:
    with signed_in(server.base_url, make_user(server)) as web:
        csrf = csrf_of(web.get(SECURITY).text)
        answer = post_json(web, f"{SECURITY}/passkeys", csrf, body)
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["error"]


def test_the_csrf_token_may_come_in_the_body_instead_of_the_header(server: LiveServer) -> None:
    with signed_in(server.base_url, make_user(server)) as web:
        csrf = csrf_of(web.get(SECURITY).text)
        answer = web.post(f"{SECURITY}/passkeys/options", json={"csrf": csrf})
        assert answer.status_code == 200 and answer.json()["rp"]["id"] == "localhost"


def test_registration_needs_a_session(server: LiveServer) -> None:
    with web_of(server.base_url) as web:
        answer = post_json(web, f"{SECURITY}/passkeys/options", "x")
        assert answer.status_code == 401 and answer.json()["error"] == "Sign in first."


# -- sign-in over HTTP ------------------------------------------------------------------------


def _login_page(web: httpx.Client, rp: RelyingParty) -> tuple[Any, str, str]:
    request = rp.authorization(scope="openid")
    page = web.get(request.url)
    assert page.status_code == 200 and "Sign in with a passkey" in page.text, page.text
    return request, interaction_of(page.text), csrf_of(page.text)


def test_webauthn_l3_s7_2_passwordless_over_http_signs_in_with_hwk_user_mfa(
    server: LiveServer,
) -> None:
    authenticator = SoftAuthenticator()
    user_with_passkey(server, authenticator)
    client = make_oidc_client(server)
    with relying_party(server.base_url, client) as rp, web_of(server.base_url) as web:
        request, interaction, csrf = _login_page(web, rp)
        options = post_json(web, f"{interaction}/passkey/options", csrf).json()
        assert options["allowCredentials"] == [] and options["userVerification"] == "required"
        assertion = authenticator.get(options, origin_of(web))
        done = post_json(web, f"{interaction}/passkey", csrf, {"credential": assertion})
        assert done.status_code == 200, done.text
        assert "ost_session" in done.headers.get("set-cookie", "")
        # The same answer again: its challenge is spent.
        again = post_json(web, f"{interaction}/passkey", csrf, {"credential": assertion})
        assert again.status_code == 400 and "Ask for the passkey again" in again.json()["error"]
        callback = to_callback(web, done.json()["location"])
        amr = id_token_amr(rp, request, callback)
    assert set(amr) >= {"hwk", "user", "mfa"} and "pwd" not in amr


def test_webauthn_l3_s7_2_password_then_passkey_over_http(server: LiveServer) -> None:
    authenticator = SoftAuthenticator(backup_eligible=True)
    username = user_with_passkey(server, authenticator)
    client = make_oidc_client(server)
    with relying_party(server.base_url, client) as rp, web_of(server.base_url) as web:
        request, interaction, csrf = _login_page(web, rp)
        login = web.post(
            f"{interaction}/login",
            data={"csrf": csrf, "username": username, "password": PASSWORD},
        )
        assert login.status_code == 303 and login.headers["location"] == f"{interaction}/mfa"
        page = web.get(f"{interaction}/mfa")
        assert "Use a passkey" in page.text, page.text
        options = post_json(web, f"{interaction}/passkey/options", csrf).json()
        assert len(options["allowCredentials"]) == 1
        done = passkey_sign_in(web, interaction, csrf, authenticator)
        assert done.status_code == 200, done.text
        amr = id_token_amr(rp, request, to_callback(web, done.json()["location"]))
    assert set(amr) >= {"pwd", "swk", "user", "mfa"}


def test_interaction_passkey_endpoints_refuse_bad_requests(server: LiveServer) -> None:
    client = make_oidc_client(server)
    with relying_party(server.base_url, client) as rp, web_of(server.base_url) as web:
        _, interaction, csrf = _login_page(web, rp)
        for url in (f"{interaction}/passkey/options", f"{interaction}/passkey"):
            assert post_json(web, url, None).status_code == 403
            assert post_json(web, url, "forged").status_code == 403
            garbage = web.post(url, content=b"\xff", headers={"x-csrf-token": csrf})
            assert garbage.status_code == 400 and "not JSON" in garbage.json()["error"]
        # No options asked for yet: nothing to answer.
        early = post_json(web, f"{interaction}/passkey", csrf, {"credential": {}})
        assert early.status_code == 400 and "Ask for the passkey again" in early.json()["error"]
        post_json(web, f"{interaction}/passkey/options", csrf)
        broken = post_json(web, f"{interaction}/passkey", csrf, {"credential": {"id": 1}})
        assert broken.status_code == 400 and "malformed" in broken.json()["error"]
        unknown = post_json(web, "/interaction/nope/passkey/options", csrf)
        assert unknown.status_code == 400 and "expired" in unknown.json()["error"]
    with web_of(server.base_url) as stranger:
        # Another browser (no browser cookie of this interaction) gets nothing.
        assert post_json(stranger, f"{interaction}/passkey/options", csrf).status_code == 400


def test_ostiary_mfa_off_hides_passkeys_and_answers_404(mfa_off: LiveServer) -> None:
    username = make_user(mfa_off)
    with signed_in(mfa_off.base_url, username) as web:
        csrf = csrf_of(web.get("/account").text)
        assert "Add a passkey" not in web.get(SECURITY).text
        for url in (f"{SECURITY}/passkeys/options", f"{SECURITY}/passkeys"):
            assert post_json(web, url, csrf).status_code == 404
    client = make_oidc_client(mfa_off)
    with relying_party(mfa_off.base_url, client) as rp, web_of(mfa_off.base_url) as web:
        page = web.get(rp.authorization(scope="openid").url)
        interaction = interaction_of(page.text)
        for url in (f"{interaction}/passkey/options", f"{interaction}/passkey"):
            answer = post_json(web, url, csrf_of(page.text))
            assert answer.status_code == 404, answer.text
        assert "data-passkey" not in page.text


# -- in Chromium ------------------------------------------------------------------------------


@pytest.fixture
def page() -> Iterator[Page]:
    require_chromium()
    with launch_chromium() as chromium:
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page


def _account_sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.base_url}/account/login?next={SECURITY}")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(SECURITY)))


def _register_in_browser(page: Page, server: LiveServer, username: str, name: str) -> None:
    """/account/security: "Add a passkey"; the recovery codes of the first factor show."""
    _account_sign_in(page, server, username)
    page.get_by_label("Name").last.fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    codes = page.locator("[data-passkey-codes] li")
    expect(codes).to_have_count(10)
    page.get_by_role("link", name="I have saved them").click()
    expect(page.locator("ul.factors li", has_text=name)).to_be_visible()


def _callback_capture(page: Page) -> list[str]:
    """The client's redirect URI answered in the browser; the URLs it was sent to."""
    seen: list[str] = []

    def answer(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>signed in</p>")

    page.route(f"{CALLBACK}**", answer)
    return seen


def _to_client(page: Page, seen: list[str]) -> str:
    consent = page.get_by_role("button", name="Allow")
    page.wait_for_function(
        "() => location.href.startsWith('https://app.example.com') || "
        "document.querySelector('button[value=allow]') !== null"
    )
    if not seen and consent.count():
        consent.click()
    page.wait_for_url(f"{CALLBACK}**")
    return seen[-1]


@dataclass
class Authorizing:
    """An authorization request of an Authlib client, opened in the signed-out page."""

    rp: RelyingParty
    request: Any
    # The client's redirect URI, answered in the browser: the URLs it was sent to.
    seen: list[str]

    def amr(self, page: Page) -> list[str]:
        """Once the person is through: the code redeemed, the ID token's amr."""
        return id_token_amr(self.rp, self.request, _to_client(page, self.seen))


@contextlib.contextmanager
def authorizing(page: Page, server: LiveServer) -> Iterator[Authorizing]:
    page.context.clear_cookies()  # signed out
    seen = _callback_capture(page)
    with relying_party(server.base_url, make_oidc_client(server)) as rp:
        request = rp.authorization(scope="openid")
        page.goto(request.url)
        yield Authorizing(rp, request, seen)


@pytest.mark.browser
def test_chromium_register_then_passwordless_code_flow_amr(server: LiveServer, page: Page) -> None:
    """Register on /account/security, sign out, then "Sign in with a passkey" on the
    authorization login page: no username typed, the code redeemed at /token, the ID
    token's amr (RFC 8176) checked by Authlib against the JWKS."""
    authenticator = VirtualAuthenticator(page)
    username = make_user(server)
    _register_in_browser(page, server, username, "Chromium key")
    (credential,) = authenticator.credentials()
    assert credential["isResidentCredential"] is True
    (factor,) = factors_of(server, username)
    assert factor.discoverable and factor.name == "Chromium key"

    with authorizing(page, server) as flow:
        page.get_by_role("button", name="Sign in with a passkey").click()
        amr = flow.amr(page)
        assert query_of(flow.seen[-1])["state"] == flow.request.state
    assert "user" in amr and ({"hwk", "swk"} & set(amr)), amr


@pytest.mark.browser
def test_chromium_password_then_passkey(server: LiveServer, page: Page) -> None:
    VirtualAuthenticator(page)
    username = make_user(server)
    _register_in_browser(page, server, username, "Second factor key")
    with authorizing(page, server) as flow:
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(re.compile(r"/interaction/[^/]+/mfa"))
        page.get_by_role("button", name="Use a passkey").click()
        amr = flow.amr(page)
    assert "pwd" in amr and "mfa" in amr and ({"hwk", "swk"} & set(amr)), amr


@pytest.mark.browser
def test_chromium_removed_passkey_is_refused(server: LiveServer, page: Page) -> None:
    VirtualAuthenticator(page)
    username = make_user(server)
    _register_in_browser(page, server, username, "Soon gone")
    page.locator("ul.factors li", has_text="Soon gone").get_by_role("button", name="Remove").click()
    expect(page.locator("ul.factors li", has_text="Soon gone")).to_have_count(0)
    assert factors_of(server, username) == []

    with authorizing(page, server):
        page.get_by_role("button", name="Sign in with a passkey").click()
        alert = page.locator(".passkey [role=alert]")
        expect(alert).to_contain_text("not registered")


# -- docs/passkeys.md ---------------------------------------------------------------------------


def test_docs_passkeys_localhost_serve_and_admin_commands(
    database_url: str, servers: Servers, tmp_path: Path
) -> None:
    """The commands of docs/passkeys.md: ``ostiary serve`` with a localhost issuer offers
    passkeys; ``ostiary user mfa list`` shows them, ``reset --factor`` removes one, and
    that passkey no longer signs in while the other still does."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = clean_env(
        OSTIARY_ISSUER=origin, OSTIARY_DATABASE_URL=database_url, OSTIARY_SECRET_KEY=SECRET_KEY
    )
    servers.start(port=port, env=env, cwd=tmp_path)
    username = unique("doc")
    created = subprocess.run(
        [str(OSTIARY), "user", "create", "--username", username, "--password-stdin"],
        env=env,
        input=PASSWORD,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    kept = SoftAuthenticator(backup_eligible=True, backed_up=True)
    lost = SoftAuthenticator()
    with signed_in(origin, username) as web:
        assert "Add a passkey" in web.get(SECURITY).text
        register_over_http(web, kept, "Phone")
        register_over_http(web, lost, "Lost laptop")

    listed = cli_json(env, "user", "mfa", "list", username)
    factors = {f["name"]: f for f in listed["factors"]}  # type: ignore[attr-defined]
    assert [factors[n]["synced"] for n in ("Phone", "Lost laptop")] == [True, False]
    lost_id = factors["Lost laptop"]["id"]
    assert cli_json(env, "user", "mfa", "reset", username, "--factor", lost_id)["username"]

    client = cli_json(
        env,
        "client",
        "create",
        "--name",
        unique("doc"),
        "--redirect-uri",
        CALLBACK,
        "--scope",
        "openid",
    )
    registered = RegisteredClient(str(client["client_id"]), str(client["client_secret"]), CALLBACK)
    with relying_party(origin, registered) as rp:
        for authenticator, works in ((lost, False), (kept, True)):
            with web_of(origin) as web:
                _, interaction, csrf = _login_page(web, rp)
                done = passkey_sign_in(web, interaction, csrf, authenticator)
                assert (done.status_code == 200) is works, done.text


def test_webauthn_l3_s7_2_passkey_as_the_second_factor_of_the_account_sign_in(
    server: LiveServer,
) -> None:
    """/account/login: the password, then the passkey (no code page needed); the session
    starts with both, and the pending sign-in and the challenge are used once."""
    authenticator = SoftAuthenticator()
    username = user_with_passkey(server, authenticator)
    with web_of(server.base_url) as web:
        page = web.get("/account/login")
        answer = web.post(
            "/account/login?next=/account/security",
            data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
        )
        assert answer.headers["location"].startswith("/account/login/mfa")
        code_page = web.get(answer.headers["location"])
        assert "Use a passkey" in code_page.text
        button = re.search(r'data-csrf="([^"]+)"', code_page.text)
        assert button is not None
        csrf = button.group(1)
        base = "/account/login/passkey"
        options = post_json(web, f"{base}/options?next=/account/security", csrf)
        assert options.status_code == 200, options.text
        assertion = authenticator.get(options.json(), origin_of(web))
        done = post_json(web, f"{base}?next=/account/security", csrf, {"credential": assertion})
        assert done.status_code == 200, done.text
        assert done.json() == {"location": "/account/security"}
        assert web.get("/account/security").status_code == 200
        # The same answer again: the challenge and the pending sign-in are gone.
        again = post_json(web, f"{base}?next=/account", csrf, {"credential": assertion})
        assert again.status_code == 400


def test_acr_values_phr_is_reached_only_by_a_passkey_that_verified_the_person(
    server: LiveServer,
) -> None:
    """``acr_values=phr`` (OpenID EAP ACR Values §2): after the password only a passkey is
    offered; one without user verification is refused, one with it gives ``acr`` "phr"."""
    authenticator = SoftAuthenticator()
    username = user_with_passkey(server, authenticator)
    client = make_oidc_client(server)
    with relying_party(server.base_url, client) as rp, web_of(server.base_url) as web:
        request = rp.authorization(scope="openid", acr_values="phr")
        page = web.get(request.url)
        interaction, csrf = interaction_of(page.text), csrf_of(page.text)
        login = web.post(
            f"{interaction}/login",
            data={"csrf": csrf, "username": username, "password": PASSWORD},
        )
        assert login.headers["location"] == f"{interaction}/mfa"
        second = web.get(f"{interaction}/mfa")
        assert "Use a passkey" in second.text
        assert "Authentication code" not in second.text and "recovery code" not in second.text
        # A code typed anyway is no way to phr.
        typed = web.post(
            f"{interaction}/mfa", data={"csrf": csrf, "method": "totp", "code": "123456"}
        )
        assert typed.status_code == 400 and "Use your passkey." in typed.text
        unverified = passkey_sign_in(web, interaction, csrf, authenticator, uv=False)
        assert unverified.status_code == 400, unverified.text
        done = passkey_sign_in(web, interaction, csrf, authenticator)
        assert done.status_code == 200, done.text
        tokens = rp.redeem(request, to_callback(web, done.json()["location"]))
        assert tokens.id_token is not None
        claims = rp.validate_id_token(
            tokens.id_token, nonce=request.nonce, access_token=tokens.access_token
        )
    assert claims["acr"] == "phr"
    assert set(claims["amr"]) >= {"pwd", "user", "mfa"}
