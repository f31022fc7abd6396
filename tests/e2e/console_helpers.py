"""Signing in to the admin console against a real server, with httpx or with Chromium.

A console user is made here with a role (admin, user-admin, auditor, or none) and a
confirmed TOTP factor, so the sign-in meets the console's demand for a second factor the
way an admin with an authenticator app would: password, then a current code.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pyotp
from axe_playwright_python.sync_playwright import Axe
from httpx._client import ClientState
from playwright.sync_api import Page

from ostiary import clock
from ostiary.accounts.mfa import totp
from ostiary.admin.bootstrap import ensure_admin_model
from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import PASSWORD, csrf_of

CODE_LABEL = "Authentication code"


@dataclass
class ConsoleUser:
    username: str
    user_id: str
    secret: str | None
    password: str = PASSWORD
    step: int = 0

    def next_code(self) -> str:
        """A code of a time step not used yet (a code is single use, RFC 6238 §5.2):
        the current step, then the following ones."""
        assert self.secret is not None
        step = clock.now() // totp.STEP + self.step
        self.step += 1
        return pyotp.TOTP(self.secret).generate_otp(step)


def make_console_user(
    server: LiveServer, role: str | None = "admin", *, with_totp: bool = True
) -> ConsoleUser:
    """A user holding ``role`` (None: no role) and, by default, a confirmed TOTP factor."""
    username = unique(role or "nobody")

    async def create(services: Services) -> ConsoleUser:
        # The console roles, as ``ostiary admin bootstrap`` makes them.
        await ensure_admin_model(services)
        user = await services.store.users.add(
            username=username,
            email=f"{username}@example.com",
            password_hash=await services.passwords.hash(PASSWORD),
        )
        if role is not None:
            await services.store.access.assign(user.id, role)
        secret = None
        if with_totp:
            factor_id, secret = await totp.begin(
                services.store.factors, services.settings, user.id, "phone"
            )
            # Confirmed with the previous step's code, so the current and next steps stay
            # unused for two sign-ins (one step of drift is allowed, RFC 6238 §5.2). Not
            # in a step's last seconds: the previous code would be two steps old by the
            # time a busy server checks it.
            left = totp.STEP - time.time() % totp.STEP
            if left < 3:
                await asyncio.sleep(left + 0.1)
            previous = pyotp.TOTP(secret).generate_otp(clock.now() // totp.STEP - 1)
            assert await totp.confirm(
                services.store.factors, services.settings, user.id, factor_id, previous
            )
        return ConsoleUser(username, user.id, secret)

    return server.call(create)


class ConsoleBrowser(httpx.Client):
    """An httpx client that may be used before and inside ``with`` (httpx refuses to
    enter a client that already sent requests)."""

    def __enter__(self) -> ConsoleBrowser:
        if self._state == ClientState.OPENED:
            return self
        super().__enter__()
        return self


def console_client(server: LiveServer) -> ConsoleBrowser:
    return ConsoleBrowser(base_url=server.base_url, follow_redirects=False, timeout=30)


def sign_in(web: httpx.Client, user: ConsoleUser, path: str = "/admin/") -> httpx.Response:
    """Walk /admin/login → the login form → the second factor → /admin/callback; return
    the callback's answer (303 to the console when it let the user in)."""
    start = web.get("/admin/login", params={"next": path})
    assert start.status_code == 303, start.text
    page = web.get(_local(start.headers["location"]))
    assert page.status_code == 200 and 'name="password"' in page.text, page.text
    interaction = re.search(r'action="(/interaction/[^"/]+)/login"', page.text)
    assert interaction
    answer = web.post(
        f"{interaction.group(1)}/login",
        data={"csrf": csrf_of(page.text), "username": user.username, "password": user.password},
    )
    assert answer.status_code == 303, answer.text
    location = _local(answer.headers["location"])
    if location.endswith("/mfa"):
        mfa = web.get(location)
        assert mfa.status_code == 200, mfa.text
        answer = web.post(
            location,
            data={"csrf": csrf_of(mfa.text), "method": "totp", "code": user.next_code()},
        )
        assert answer.status_code == 303, answer.text
        location = _local(answer.headers["location"])
    assert location.startswith("/admin/callback"), location
    return web.get(location)


def signed_in_client(server: LiveServer, user: ConsoleUser) -> ConsoleBrowser:
    """An httpx client holding a console session of ``user``."""
    web = console_client(server)
    answer = sign_in(web, user)
    assert answer.status_code == 303, answer.text
    return web


def console_csrf(web: httpx.Client, path: str = "/admin/") -> str:
    page = web.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def _local(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# -- Chromium ------------------------------------------------------------------------------

SERIOUS = frozenset({"serious", "critical"})
WIDTHS = (1280, 390)


def browser_sign_in(
    page: Page, server: LiveServer, user: ConsoleUser, path: str = "/admin/"
) -> None:
    """Sign in through the pages a person sees: password, then the authenticator's code."""
    page.goto(f"{server.base_url}{path}")
    page.get_by_label("Username").fill(user.username)
    password = page.get_by_label("Password")
    password.fill(user.password)
    password.press("Enter")
    code = page.get_by_label(CODE_LABEL)
    code.fill(user.next_code())
    code.press("Enter")
    page.wait_for_url(f"{server.base_url}{path}*")


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2.1 AA)."""
    results = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]})
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


def overflowing_widths(page: Page) -> list[int]:
    """The viewport widths (1280, 390) at which the page scrolls sideways."""
    wide = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            wide.append(width)
    page.set_viewport_size({"width": 1280, "height": 900})
    return wide


def assert_page_is_usable(page: Page) -> None:
    """No serious accessibility violation, no sideways scrolling at 1280 or 390 px."""
    assert serious_violations(page) == [], page.url
    assert overflowing_widths(page) == [], page.url
