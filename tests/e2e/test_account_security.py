"""/account/security against a real server: adding an authenticator app (RFC 6238 TOTP)
with codes the test computes from the secret shown on the page, recovery codes shown once,
removal, and what every change does to the person's other sessions and the audit trail.

The helpers at the top are shared with test_account_login_mfa.py and test_admin_mfa.py.
"""

from __future__ import annotations

import contextlib
import html
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyotp
import pytest

from ostiary import clock
from ostiary.accounts import signin
from ostiary.accounts.mfa import totp
from ostiary.domain.audit import AuditEvent
from ostiary.domain.mfa import Factor
from ostiary.services import Services
from ostiary.web.browser import SESSION_COOKIE
from tests.conftest import LiveServer, own_server
from tests.e2e.account_fixtures import is_signed_in, signed_in_browser
from tests.e2e.helpers import browser, csrf_of, make_user

STEP = 30
CODE_ITEM = re.compile(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>")


# -- helpers (shared with the other MFA test files) ---------------------------------------


def steady_step() -> int:
    """The current RFC 6238 time step, with at least 4 seconds of it left: a code the test
    computes for step N±k then means the same step to the server when it arrives."""
    if time.time() % STEP > STEP - 4:
        time.sleep(STEP - time.time() % STEP + 0.1)
    return int(time.time()) // STEP


def code_at(secret: str, step: int) -> str:
    """The 6-digit code of ``step`` (what an authenticator app shows then)."""
    return pyotp.TOTP(secret).at(step * STEP)


def wrong_code(secret: str) -> str:
    """Six digits that are no code of the steps the server accepts now."""
    near = {code_at(secret, steady_step() + d) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def secret_on(page: str) -> str:
    match = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert match, page
    return match.group(1)


def codes_on(page: str) -> list[str]:
    return CODE_ITEM.findall(page)


def security_page(web: httpx.Client) -> httpx.Response:
    page = web.get("/account/security")
    assert page.status_code == 200, page.text
    return page


def begin_totp(web: httpx.Client, name: str | None = None) -> tuple[str, httpx.Response]:
    """POST "Add an authenticator app"; the factor id and the enrolment page."""
    form = {"csrf": csrf_of(security_page(web).text)}
    if name is not None:
        form["name"] = name
    started = web.post("/account/security/totp", data=form)
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    assert location.startswith("/account/security/totp?factor=")
    page = web.get(location)
    assert page.status_code == 200, page.text
    return location.rsplit("=", 1)[1], page


def confirm_totp(
    web: httpx.Client, page: httpx.Response, factor_id: str, code: str
) -> httpx.Response:
    return web.post(
        "/account/security/totp/confirm",
        data={"csrf": csrf_of(page.text), "factor": factor_id, "code": code},
    )


def enrol_totp(
    web: httpx.Client, name: str | None = None, *, drift: int = 0
) -> tuple[str, list[str]]:
    """Add an authenticator app confirmed with the code of the current step + ``drift``;
    the secret and the recovery codes shown (empty unless it is the first factor)."""
    factor_id, page = begin_totp(web, name)
    secret = secret_on(page.text)
    confirmed = confirm_totp(web, page, factor_id, code_at(secret, steady_step() + drift))
    if confirmed.status_code == 303:
        assert confirmed.headers["location"] == "/account/security"
        return secret, []
    assert confirmed.status_code == 200, confirmed.text
    return secret, codes_on(confirmed.text)


def factors_of(server: LiveServer, username: str) -> list[Factor]:
    async def read(services: Services) -> list[Factor]:
        user = await services.store.users.by_username(username)
        assert user is not None
        return await services.store.factors.for_user(user.id)

    return server.call(read)


def recovery_left(server: LiveServer, username: str) -> int:
    async def read(services: Services) -> int:
        user = await services.store.users.by_username(username)
        assert user is not None
        return await services.store.factors.recovery_codes_left(user.id)

    return server.call(read)


def audit_of(server: LiveServer, username: str, type: str) -> list[AuditEvent]:
    async def read(services: Services) -> list[AuditEvent]:
        await services.audit.flush()
        user = await services.store.users.by_username(username)
        assert user is not None
        return await services.store.audit.query(user_id=user.id, type=type, limit=100)

    return server.call(read)


@contextlib.contextmanager
def session_browser(server: LiveServer, username: str) -> Iterator[httpx.Client]:
    """A browser holding a fresh SSO session of the user, started straight in the store
    (as a finished two-factor sign-in would start it)."""

    async def start(services: Services) -> str:
        user = await services.store.users.by_username(username)
        assert user is not None
        return await signin.start_session(services, user, None, amr=("pwd", "otp", "mfa"))

    cookie = server.call(start)
    with browser(server) as web:
        web.cookies.set(SESSION_COOKIE, cookie)
        assert is_signed_in(web)
        yield web


def text_of(page: str) -> str:
    """The page's text as a person reads it (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# -- the page --------------------------------------------------------------------------------


def test_security_page_needs_a_session_and_is_never_cached(server: LiveServer) -> None:
    with browser(server) as web:
        answer = web.get("/account/security")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/account/login?next=/account/security"
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        page = security_page(web)
        # RFC 9111 §5.2.2.5: secrets and codes are shown on these pages.
        assert page.headers["cache-control"] == "no-store"
        assert "Add an authenticator app" in page.text
        assert 'href="/account/security"' in web.get("/account").text
        _, enrolment = begin_totp(web)
        assert enrolment.headers["cache-control"] == "no-store"


def test_rfc6238_enrolment_shows_qr_uri_and_secret_and_counts_only_once_confirmed(
    server: LiveServer,
) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        factor_id, page = begin_totp(web, "  My phone  ")
        secret = secret_on(page.text)
        assert "<svg" in page.text and "Authenticator QR code" in page.text
        shown = re.search(r'<textarea class="otpauth"[^>]*>([^<]+)</textarea>', page.text)
        assert shown, page.text
        uri = html.unescape(shown[1])
        parsed = pyotp.parse_uri(uri)
        assert isinstance(parsed, pyotp.TOTP)
        assert parsed.secret == secret and parsed.name == username and parsed.digits == 6
        assert parsed.issuer == "127.0.0.1" and parsed.interval == STEP
        assert "Authentication code" in page.text
        # Not counted, not usable, until a current code confirms it.
        (factor,) = factors_of(server, username)
        assert factor.id == factor_id and not factor.confirmed and factor.name == "My phone"
        # The secret is stored sealed, never as given.
        assert factor.secret is not None and secret.encode() not in factor.secret
        step = steady_step()
        for wrong in (wrong_code(secret), "12345", "abcdef"):
            answer = confirm_totp(web, page, factor_id, wrong)
            assert answer.status_code == 400, answer.text
            assert "Wrong code" in answer.text
        assert not factors_of(server, username)[0].confirmed
        done = confirm_totp(web, page, factor_id, code_at(secret, step))
        assert done.status_code == 200, done.text
        assert done.headers["cache-control"] == "no-store"
        (factor,) = factors_of(server, username)
        assert factor.confirmed and factor.last_step == step
        listed = text_of(security_page(web).text)
        assert "My phone" in listed and "Authenticator app" in listed
        # A confirmed factor cannot be confirmed again, even with a later code.
        again = confirm_totp(web, page, factor_id, code_at(secret, step + 1))
        assert again.headers["location"] == "/account/security?notice=enrolment-expired"


def test_rfc6238_s5_2_drift_of_one_step_confirms_two_steps_does_not(server: LiveServer) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        factor_id, page = begin_totp(web)
        secret = secret_on(page.text)
        step = steady_step()
        for far in (step - 2, step + 2):
            refused = confirm_totp(web, page, factor_id, code_at(secret, far))
            assert refused.status_code == 400, refused.text
        assert confirm_totp(web, page, factor_id, code_at(secret, step + 1)).status_code == 200
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        secret, codes = enrol_totp(web, drift=-1)
        assert len(codes) == 10


def test_first_factor_brings_ten_recovery_codes_shown_once(server: LiveServer) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        factor_id, page = begin_totp(web)
        done = confirm_totp(web, page, factor_id, code_at(secret_on(page.text), steady_step()))
        codes = codes_on(done.text)
        assert len(codes) == len(set(codes)) == 10
        assert "Copy them now" in done.text and "only time they are shown" in done.text
        overview = security_page(web).text
        assert not codes_on(overview)
        assert "You have 10 unused recovery codes left." in text_of(overview)
        # Only SHA-256 digests are kept (checked the long way: no code appears in a row).
        assert recovery_left(server, username) == 10
        # A second factor brings no new codes: the first ones still stand.
        _, more = enrol_totp(web, "Tablet")
        assert more == []
        assert recovery_left(server, username) == 10
        events = audit_of(server, username, "mfa.enrolled")
        assert sorted(e.details["recovery_codes"] for e in events) == [0, 10]
        assert {e.details["kind"] for e in events} == {"totp"}


def test_generate_new_recovery_codes_replaces_every_old_one(server: LiveServer) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        _, old = enrol_totp(web)
        page = security_page(web)
        assert "Generate new recovery codes" in page.text
        fresh = web.post("/account/security/recovery-codes", data={"csrf": csrf_of(page.text)})
        assert fresh.status_code == 200, fresh.text
        assert fresh.headers["cache-control"] == "no-store"
        new = codes_on(fresh.text)
        assert len(new) == 10 and not set(new) & set(old)
        (event,) = audit_of(server, username, "mfa.recovery_codes_replaced")
        assert event.details == {"count": 10, "sessions_ended": 0}
        dump = repr(audit_of(server, username, "mfa.enrolled")) + repr(event)
        assert not any(code in dump for code in old + new)


def test_recovery_codes_need_a_factor(server: LiveServer) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        page = security_page(web)
        assert "Generate new recovery codes" not in page.text
        answer = web.post("/account/security/recovery-codes", data={"csrf": csrf_of(page.text)})
        assert answer.headers["location"] == "/account/security?notice=no-factor"
        assert recovery_left(server, username) == 0


@pytest.mark.parametrize(
    ("typed", "stored", "status"),
    [
        ("", "Authenticator app", 303),
        ("   ", "Authenticator app", 303),
        ("  Work phone ", "Work phone", 303),
        ("x" * 100, "x" * 100, 303),
        ("x" * 101, None, 400),
        ("line\nbreak", None, 400),
        ("bell\x07", None, 400),
        ("Téléphone 📱", "Téléphone 📱", 303),
    ],
)
def test_factor_name_trimmed_defaulted_and_at_most_100_characters(
    server: LiveServer, typed: str, stored: str | None, status: int
) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        answer = web.post(
            "/account/security/totp",
            data={"csrf": csrf_of(security_page(web).text), "name": typed},
        )
        assert answer.status_code == status, answer.text
        names = [f.name for f in factors_of(server, username)]
        assert names == ([stored] if stored else [])
        if status == 400:
            assert 'class="error"' in answer.text


def test_forms_without_csrf_token_are_refused(server: LiveServer) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        for path, form in [
            ("/account/security/totp", {"name": "x"}),
            ("/account/security/totp/confirm", {"factor": "x", "code": "123456"}),
            ("/account/security/remove", {"factor": "x"}),
            ("/account/security/recovery-codes", {}),
        ]:
            answer = web.post(path, data={**form, "csrf": "forged"})
            assert answer.status_code == 403, (path, answer.text)
        assert factors_of(server, username) == []


def test_another_users_setup_cannot_be_seen_confirmed_or_removed(server: LiveServer) -> None:
    owner, other = make_user(server), make_user(server)
    with signed_in_browser(server, owner) as web:
        factor_id, page = begin_totp(web)
        secret = secret_on(page.text)
    with signed_in_browser(server, other) as web:
        shown = web.get(f"/account/security/totp?factor={factor_id}")
        assert shown.headers["location"] == "/account/security?notice=enrolment-expired"
        csrf = csrf_of(security_page(web).text)
        code = code_at(secret, steady_step())
        confirmed = web.post(
            "/account/security/totp/confirm", data={"csrf": csrf, "factor": factor_id, "code": code}
        )
        assert confirmed.headers["location"] == "/account/security?notice=enrolment-expired"
        removed = web.post("/account/security/remove", data={"csrf": csrf, "factor": factor_id})
        assert removed.status_code == 404
    (factor,) = factors_of(server, owner)
    assert not factor.confirmed


def test_unconfirmed_setup_older_than_10_minutes_is_hidden_then_deleted(server: LiveServer) -> None:
    username = make_user(server)

    async def abandoned(services: Services) -> str:
        user = await services.store.users.by_username(username)
        assert user is not None
        factor_id, _ = await totp.begin(services.store.factors, services.settings, user.id, "Old")
        factor = await services.store.factors.get(factor_id)
        assert factor is not None
        # Stored 11 minutes ago: written again with that creation time.
        await services.store.factors.delete(factor_id, user.id)
        await services.store.factors.add(
            Factor(**{**_fields(factor), "created_at": clock.now() - 660})
        )
        return factor_id

    old_id = server.call(abandoned)
    with signed_in_browser(server, username) as web:
        page = security_page(web)
        assert "Old" not in text_of(page.text) and old_id not in page.text
        assert web.get(f"/account/security/totp?factor={old_id}").status_code == 303
        new_id, _ = begin_totp(web, "New")
        assert [f.id for f in factors_of(server, username)] == [new_id]
        # The young, unfinished one is listed, with the way back to finishing it.
        assert f"/account/security/totp?factor={new_id}" in security_page(web).text


def test_at_most_five_unfinished_setups_the_oldest_goes(server: LiveServer) -> None:
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        started = [begin_totp(web, f"Tab {n}")[0] for n in range(7)]
    kept = {f.id for f in factors_of(server, username)}
    # Started within one second, "oldest" is any of them but never the one just begun.
    assert len(kept) == 5 and kept <= set(started) and started[-1] in kept


def _fields(factor: Factor) -> dict[str, Any]:
    return {name: getattr(factor, name) for name in factor.__dataclass_fields__}


# -- removal, sessions and the audit trail ------------------------------------------------


@pytest.fixture
def two_browsers(server: LiveServer) -> Iterator[tuple[str, httpx.Client, httpx.Client]]:
    """One user signed in twice: the browser that changes factors, and another one."""
    username = make_user(server)
    with signed_in_browser(server, username) as web, signed_in_browser(server, username) as other:
        yield username, web, other


def test_enrolment_ends_the_other_sessions_keeps_this_one_and_is_audited(
    server: LiveServer, two_browsers: tuple[str, httpx.Client, httpx.Client]
) -> None:
    username, web, other = two_browsers
    enrol_totp(web, "Phone")
    assert is_signed_in(web)
    assert not is_signed_in(other)
    (event,) = audit_of(server, username, "mfa.enrolled")
    assert event.actor.startswith("user:") and event.ip == "127.0.0.1"
    assert event.details["name"] == "Phone" and event.details["sessions_ended"] == 1


def test_removing_a_factor_ends_other_sessions_and_the_last_one_takes_the_codes(
    server: LiveServer, two_browsers: tuple[str, httpx.Client, httpx.Client]
) -> None:
    username, web, _ = two_browsers
    enrol_totp(web, "Phone")
    enrol_totp(web, "Tablet")
    phone, tablet = factors_of(server, username)
    with session_browser(server, username) as third:
        page = security_page(web)
        answer = web.post(
            "/account/security/remove", data={"csrf": csrf_of(page.text), "factor": phone.id}
        )
        assert answer.headers["location"] == "/account/security?notice=factor-removed"
        assert not is_signed_in(third)
    assert is_signed_in(web)
    assert [f.id for f in factors_of(server, username)] == [tablet.id]
    assert recovery_left(server, username) == 10
    page = security_page(web)
    web.post("/account/security/remove", data={"csrf": csrf_of(page.text), "factor": tablet.id})
    assert factors_of(server, username) == []
    assert recovery_left(server, username) == 0
    first, last = sorted(audit_of(server, username, "mfa.removed"), key=lambda e: e.id)
    assert first.details["recovery_codes_deleted"] is False
    assert last.details["recovery_codes_deleted"] is True
    assert first.details["sessions_ended"] == 1 and first.details["kind"] == "totp"
    page = security_page(web)
    assert "Generate new recovery codes" not in page.text
    again = web.post(
        "/account/security/remove", data={"csrf": csrf_of(page.text), "factor": tablet.id}
    )
    assert again.status_code == 404 and "no such factor" in again.text


def test_removing_an_unfinished_setup_changes_nothing_else(
    server: LiveServer, two_browsers: tuple[str, httpx.Client, httpx.Client]
) -> None:
    username, web, other = two_browsers
    factor_id, page = begin_totp(web)
    answer = web.post(
        "/account/security/remove", data={"csrf": csrf_of(page.text), "factor": factor_id}
    )
    assert answer.headers["location"] == "/account/security"
    assert factors_of(server, username) == []
    assert is_signed_in(other)
    assert audit_of(server, username, "mfa.removed") == []


# -- OSTIARY_MFA=off --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mfa_off(database_url: str) -> Iterator[LiveServer]:
    with own_server(database_url, mfa="off") as live:
        yield live


def test_mfa_off_page_says_so_and_every_change_answers_404(mfa_off: LiveServer) -> None:
    username = make_user(mfa_off)
    with signed_in_browser(mfa_off, username) as web:
        page = security_page(web)
        assert "switched off" in page.text
        assert (
            "Add an authenticator app" not in page.text
            and "<form" not in page.text.split("</nav>")[1]
        )
        csrf = csrf_of(web.get("/account").text)
        for path, form in [
            ("/account/security/totp", {"name": "x"}),
            ("/account/security/totp/confirm", {"factor": "x", "code": "123456"}),
            ("/account/security/remove", {"factor": "x"}),
            ("/account/security/recovery-codes", {}),
        ]:
            assert web.post(path, data={**form, "csrf": csrf}).status_code == 404, path
        assert web.get("/account/security/totp?factor=x").status_code == 404
    assert factors_of(mfa_off, username) == []
