"""`ostiary gateway --mode browser` in real Chromium, run as operators run it (the CLI).

A real Ostiary (on ``localhost``), the gateway process (on ``127.0.0.1``: another host, so
neither sees the other's cookies, RFC 6265 §8.5) and the small upstream app that echoes what
it received. The person opens a protected page, signs in at Ostiary's login page, lands
back on the same path and query (OIDC Core §3.1), signs out (RP-Initiated Logout 1.0 §2)
and is asked to sign in again.
"""

import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import LiveServer, free_port, server_settings, start_server
from tests.e2e.chromium import launch_chromium, require_chromium, screenshot_on_failure
from tests.e2e.helpers import PASSWORD
from tests.e2e.oidc_helpers import make_oidc_client, make_oidc_user
from tests.e2e.processes import OSTIARY, ServerProcess, clean_env
from tests.e2e.upstream_app import serving, upstream_app

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000
SCREENSHOT = Path("/tmp/ostiary-gateway-chromium.png")
SESSION_COOKIE = "ostiary_gw_session"


@dataclass
class Stack:
    ostiary: LiveServer
    gateway: str
    process: ServerProcess


def _wait_answering(url: str, process: ServerProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.proc.poll() is None, process.stderr
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the gateway did not answer; stderr:\n{process.stderr}")


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    op_port, gw_port = free_port(), free_port()
    settings = server_settings(database_url, op_port, issuer=f"http://localhost:{op_port}")
    ostiary, stop_ostiary = start_server(settings, op_port)
    gateway = f"http://127.0.0.1:{gw_port}"
    client = make_oidc_client(
        ostiary,
        first_party=True,
        session_refresh_tokens=True,
        redirect_uris=[f"{gateway}/.ostiary/callback"],
        post_logout_redirect_uris=[f"{gateway}/bye"],
    )
    assert client.secret is not None
    workdir = tmp_path_factory.mktemp("gateway")
    config = workdir / "gateway.toml"
    config.write_text(
        f"post_logout_redirect_uri = {json.dumps(gateway + '/bye')}\n"
        'rules = ["GET /app/* authenticated", "POST /app/* authenticated", "GET /bye public"]\n'
    )
    env = clean_env(
        OSTIARY_GATEWAY_CLIENT_SECRET=client.secret,
        OSTIARY_GATEWAY_COOKIE_SECRET=secrets.token_urlsafe(48),
    )
    try:
        with serving(upstream_app()) as upstream:
            proc = subprocess.Popen(
                [str(OSTIARY), "gateway", "--config", str(config), "--mode", "browser",
                 "--port", str(gw_port), "--issuer", ostiary.base_url, "--upstream", upstream,
                 "--client-id", client.client_id],
                env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            process = ServerProcess(proc, gateway)
            try:
                _wait_answering(f"{gateway}/bye", process)
                yield Stack(ostiary, gateway, process)
            finally:
                process.stop()
    finally:
        stop_ostiary()
    # Never a secret in the operator's log.
    assert client.secret not in process.stderr + process.stdout


@pytest.fixture(scope="module")
def chromium(stack: Stack) -> Iterator[Browser]:
    """One browser per module and backend, opened after the servers and closed before them:
    Playwright's sync API runs an event loop in this thread, so no ``asyncio.run`` (the
    database fixtures) may happen while it is open."""
    require_chromium()
    with launch_chromium() as browser:
        yield browser


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def _echoed(page: Page) -> dict[str, Any]:
    """The upstream's JSON echo as Chromium shows it."""
    return json.loads(page.locator("body").inner_text())


def _sign_in_at_ostiary(page: Page, stack: Stack, username: str) -> None:
    page.wait_for_url(re.compile(re.escape(stack.ostiary.base_url) + r"/authorize\?"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_oidc_core_3_1_sign_in_lands_on_the_original_page_then_logout_in_chromium(
    stack: Stack, context: BrowserContext
) -> None:
    user = make_oidc_user(stack.ostiary)
    page = context.new_page()
    target = f"{stack.gateway}/app/reports/caf%C3%A9?tab=2&q=a%20b"
    with screenshot_on_failure(page, SCREENSHOT):
        page.goto(target)
        _sign_in_at_ostiary(page, stack, user.username)

        # Back on the very path and query first asked for, showing the upstream's page.
        page.wait_for_url(target)
        seen = _echoed(page)
        assert seen["raw_path"] == "/app/reports/caf%C3%A9"
        assert seen["query"] == "tab=2&q=a%20b"
        headers = dict(seen["headers"])
        assert headers["x-forwarded-user"] == user.id
        assert headers["x-forwarded-email"] == user.email
        assert headers["x-forwarded-preferred-username"] == user.username
        assert "ostiary_gw" not in headers.get("cookie", "")  # the gateway's cookies stay

        # Session cookie: HttpOnly, SameSite=Lax, not Secure on http; the login cookie is gone.
        cookies = {c["name"]: c for c in context.cookies([stack.gateway])}
        assert set(cookies) == {SESSION_COOKIE}, set(cookies)
        session = cookies[SESSION_COOKIE]
        assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]
        assert session["path"] == "/"
        assert page.evaluate("document.cookie") == ""

        # Another protected page in the same session: no login page on the way.
        page.goto(f"{stack.gateway}/app/other")
        assert page.url == f"{stack.gateway}/app/other"
        assert dict(_echoed(page)["headers"])["x-forwarded-user"] == user.id

        # Logout: via Ostiary's end_session endpoint to the post-logout page.
        page.goto(f"{stack.gateway}/.ostiary/logout")
        page.wait_for_url(f"{stack.gateway}/bye**")
        bye = _echoed(page)
        assert bye["raw_path"] == "/bye"
        assert "x-forwarded-user" not in dict(bye["headers"])
        assert SESSION_COOKIE not in {c["name"] for c in context.cookies([stack.gateway])}

        # A new visit asks to sign in again: both the gateway and the Ostiary session ended.
        page.goto(f"{stack.gateway}/app/reports/again")
        page.wait_for_url(re.compile(re.escape(stack.ostiary.base_url) + r"/authorize\?"))
        expect(page.locator("input[name=password]")).to_be_visible()


def test_deny_by_default_a_path_without_a_rule_is_404_in_chromium(
    stack: Stack, context: BrowserContext
) -> None:
    page = context.new_page()
    with screenshot_on_failure(page, SCREENSHOT):
        for path in ("/nowhere", "/application", "/bye/more"):
            response = page.goto(f"{stack.gateway}{path}")
            assert response is not None
            assert response.status == 404, path
            assert page.url == f"{stack.gateway}{path}"  # no detour to a login page
            assert _echoed(page)["error"] == "not_found"


def test_a_post_without_a_session_is_401_not_a_login_page_in_chromium(
    stack: Stack, context: BrowserContext
) -> None:
    """A form POST cannot survive a login detour: 401 login_required (docs/gateway.md)."""
    page = context.new_page()
    with screenshot_on_failure(page, SCREENSHOT):
        page.goto(f"{stack.gateway}/bye")
        page.set_content(
            f'<form method="post" action="{stack.gateway}/app/save"><button>Save</button></form>'
        )
        with page.expect_response(f"{stack.gateway}/app/save") as answer:
            page.get_by_role("button", name="Save").click()
        assert answer.value.status == 401
        assert answer.value.json()["error"] == "login_required"
