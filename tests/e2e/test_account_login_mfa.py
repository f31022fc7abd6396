"""/account/login with a second factor, against real servers: after the right password
the session does not start; the sign-in waits server-side (a one-time token in an HttpOnly
cookie) for an RFC 6238 code or a recovery code. Codes are computed by the test from the
secret the security page showed; time is moved by computing the codes of other steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from ostiary import clock
from ostiary.accounts.mfa import recovery
from ostiary.crypto.tokens import digest
from ostiary.domain.mfa import ACR_MFA, Factor
from ostiary.domain.sessions import Session
from ostiary.services import Services
from ostiary.web.account_auth import MFA_COOKIE
from ostiary.web.browser import SESSION_COOKIE
from tests.conftest import LiveServer, own_server, unique
from tests.e2e import test_account_security
from tests.e2e.account_fixtures import is_signed_in, signed_in_browser
from tests.e2e.helpers import PASSWORD, browser, csrf_of, make_user
from tests.e2e.test_account_security import (
    audit_of,
    code_at,
    codes_on,
    enrol_totp,
    recovery_left,
    security_page,
    steady_step,
    text_of,
    wrong_code,
)

WRONG = "Wrong code."
THRESHOLD = 3


# -- helpers -------------------------------------------------------------------------------


def enrolled_user(server: LiveServer, *, drift: int = 0) -> tuple[str, str, list[str]]:
    """A user with an authenticator app (confirmed with the code of the current step +
    ``drift``): username, secret, recovery codes."""
    username = make_user(server)
    with signed_in_browser(server, username) as web:
        secret, codes = enrol_totp(web, drift=drift)
    return username, secret, codes


def password_step(
    web: httpx.Client, username: str, password: str = PASSWORD, next_path: str = "/account"
) -> httpx.Response:
    form = web.get("/account/login", params={"next": next_path})
    return web.post(
        f"/account/login?next={next_path}",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
    )


def to_code_page(web: httpx.Client, username: str, next_path: str = "/account") -> httpx.Response:
    """The right password: the browser is sent to the code page, not signed in."""
    answer = password_step(web, username, next_path=next_path)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/account/login/mfa?next={next_path}"
    assert SESSION_COOKIE not in web.cookies
    page = web.get(answer.headers["location"])
    assert page.status_code == 200, page.text
    return page


def send_code(
    web: httpx.Client,
    page: httpx.Response,
    code: str,
    method: str = "totp",
    next_path: str = "/account",
) -> httpx.Response:
    return web.post(
        f"/account/login/mfa?next={next_path}",
        data={"csrf": csrf_of(page.text), "method": method, "code": code},
    )


def session_of(server: LiveServer, cookie: str) -> Session:
    async def read(services: Services) -> Session:
        found = await services.store.sessions.live_with_user(digest(cookie))
        assert found is not None
        return found[0]

    return server.call(read)


# -- the flow ------------------------------------------------------------------------------


def test_rfc6238_password_then_current_code_starts_session_with_amr_otp_mfa(
    server: LiveServer,
) -> None:
    username, secret, _ = enrolled_user(server, drift=-1)
    with browser(server) as web:
        answer = password_step(web, username)
        cookie = answer.headers["set-cookie"]
        # Only the pending sign-in's cookie: HttpOnly, SameSite=Lax, five minutes.
        assert cookie.startswith(f"{MFA_COOKIE}=ost_ml_")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=300" in cookie
        assert SESSION_COOKIE not in web.cookies and not is_signed_in(web)
        page = web.get(answer.headers["location"])
        assert page.headers["cache-control"] == "no-store"
        assert "Authentication code" in page.text and "Use a recovery code" in page.text
        assert "<script" not in page.text  # works without JavaScript
        done = send_code(web, page, code_at(secret, steady_step()))
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/account"
        assert f'{MFA_COOKIE}=""' in done.headers["set-cookie"]
        session = session_of(server, web.cookies[SESSION_COOKIE])
        # RFC 8176 §2: a password and a one-time password, two factors.
        assert session.amr == ("pwd", "otp", "mfa") and session.acr == ACR_MFA
        assert is_signed_in(web)
    (event,) = audit_of(server, username, "login.success")[-1:]
    assert event.details == {"method": "pwd+otp+mfa", "purpose": "login"}


def test_next_page_is_kept_across_the_second_factor(server: LiveServer) -> None:
    username, secret, _ = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username, "/account/sessions")
        done = send_code(
            web, page, code_at(secret, steady_step() + 1), next_path="/account/sessions"
        )
        assert done.headers["location"] == "/account/sessions"


def test_rfc6238_s5_2_code_is_single_use_and_earlier_steps_are_refused(server: LiveServer) -> None:
    username, secret, _ = enrolled_user(server)
    step = steady_step()
    with browser(server) as web:
        page = to_code_page(web, username)
        # The code that confirmed the factor was used then: it cannot sign in.
        refused = send_code(web, page, code_at(secret, step))
        assert refused.status_code == 401 and WRONG in refused.text
        assert send_code(web, page, code_at(secret, step + 1)).status_code == 303
    with browser(server) as web:
        page = to_code_page(web, username)
        for used in (step + 1, step):
            replay = send_code(web, page, code_at(secret, used))
            assert replay.status_code == 401 and WRONG in replay.text
        assert not is_signed_in(web)
    failures = audit_of(server, username, "mfa.failed")
    assert [e.reason for e in failures] == ["wrong_code"] * 3
    assert all(e.details == {"method": "totp"} for e in failures)


def test_rfc6238_s5_2_one_step_of_drift_signs_in_two_steps_do_not(server: LiveServer) -> None:
    username, secret, _ = enrolled_user(server, drift=-1)
    step = steady_step()
    with browser(server) as web:
        page = to_code_page(web, username)
        for far in (step + 2, step - 2, step + 3):
            assert send_code(web, page, code_at(secret, far)).status_code == 401
        assert send_code(web, page, code_at(secret, step + 1)).status_code == 303


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12345",
        "1234567",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "١٢٣٤٥٦",
        "12 34 5x",
        "' OR 1=1 --",
        "9" * 5000,
    ],
)
def test_malformed_codes_are_wrong_codes_never_errors(server: LiveServer, typed: str) -> None:
    username, _, _ = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username)
        for method in ("totp", "recovery"):
            answer = send_code(web, page, typed, method)
            assert answer.status_code == 401, answer.text
            assert WRONG in answer.text


def test_code_with_nul_is_a_clear_400_and_the_sign_in_stays_pending(server: LiveServer) -> None:
    username, secret, _ = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username)
        answer = send_code(web, page, "\x00" * 6)
        assert answer.status_code == 400 and "NUL" in answer.text
        assert send_code(web, page, code_at(secret, steady_step() + 1)).status_code == 303


def test_missing_forged_or_used_pending_sign_in_goes_back_to_the_password(
    server: LiveServer,
) -> None:
    with browser(server) as web:
        for path in ("/account/login/mfa", "/account/login/mfa?next=/account/sessions"):
            answer = web.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/account/login?next=/account")
        web.cookies.set(MFA_COOKIE, "ost_ml_forged")
        assert web.get("/account/login/mfa").headers["location"] == "/account/login?next=/account"
    username, secret, _ = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username)
        pending = web.cookies[MFA_COOKIE]
        assert send_code(web, page, code_at(secret, steady_step() + 1)).status_code == 303
    with browser(server) as web:
        # The same pending sign-in once more: it was used up by the right code.
        web.cookies.set(MFA_COOKIE, pending)
        assert web.get("/account/login/mfa").status_code == 303


def test_disabled_between_password_and_code_means_no_session(server: LiveServer) -> None:
    username, secret, _ = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username)

        async def disable(services: Services) -> None:
            user = await services.store.users.by_username(username)
            assert user is not None
            await services.store.users.set_disabled(user.id, True)

        server.call(disable)
        answer = send_code(web, page, code_at(secret, steady_step() + 1))
        assert answer.status_code == 303
        assert answer.headers["location"] == "/account/login?next=/account"
        assert SESSION_COOKIE not in web.cookies


# -- recovery codes ------------------------------------------------------------------------


def test_recovery_code_signs_in_once_and_says_how_many_are_left(server: LiveServer) -> None:
    username, _, codes = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username)
        recovery = web.get("/account/login/mfa?method=recovery&next=/account")
        assert "Recovery code" in recovery.text and "Authentication code" not in recovery.text
        # Typed as people type: upper case, no dash, spaces around.
        typed = f"  {codes[0].replace('-', '').upper()} "
        done = send_code(web, recovery, typed, "recovery")
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/account/security?notice=recovery-code-used"
        assert session_of(server, web.cookies[SESSION_COOKIE]).amr == ("pwd", "otp", "mfa")
        shown = text_of(web.get(done.headers["location"]).text)
        assert "You signed in with a recovery code" in shown and "9 unused code(s)" in shown
    assert recovery_left(server, username) == 9
    (used,) = audit_of(server, username, "mfa.recovery_code_used")
    assert used.details == {"left": 9}
    assert codes[0] not in repr(used)
    with browser(server) as web:
        page = to_code_page(web, username)
        again = send_code(web, page, codes[0], "recovery")
        assert again.status_code == 401 and WRONG in again.text
        assert send_code(web, page, codes[1], "recovery").status_code == 303
    assert recovery_left(server, username) == 8


def test_new_recovery_codes_make_the_old_ones_useless(server: LiveServer) -> None:
    username, _, old = enrolled_user(server)
    with browser(server) as web:
        page = to_code_page(web, username)
        send_code(web, page, old[0], "recovery")
        regenerated = web.post(
            "/account/security/recovery-codes", data={"csrf": csrf_of(security_page(web).text)}
        )
        assert regenerated.status_code == 200, regenerated.text
        assert len(codes_on(regenerated.text)) == 10
        assert not [c for c in old if c in regenerated.text]
    with browser(server) as web:
        page = to_code_page(web, username)
        assert send_code(web, page, old[1], "recovery").status_code == 401
    assert recovery_left(server, username) == 10


def test_passkey_only_user_is_offered_the_recovery_codes_here(server: LiveServer) -> None:
    username = make_user(server)

    async def enrol(services: Services) -> list[str]:
        user = await services.store.users.by_username(username)
        assert user is not None
        key = Factor(
            id=str(uuid.uuid4()),
            user_id=user.id,
            kind="passkey",
            name="Laptop",
            created_at=clock.now(),
            credential_id=uuid.uuid4().bytes,
            public_key=b"cose",
        )
        await services.store.factors.add(key)
        return await recovery.replace(services.store.factors, user.id)

    codes = server.call(enrol)
    with browser(server) as web:
        page = to_code_page(web, username)
        assert "Authentication code" not in page.text and "Use a passkey" in page.text
        assert "Use a recovery code" in page.text
        recovery_page = web.get("/account/login/mfa?method=recovery&next=/account")
        # An authenticator-app code is no way in for a user who has none.
        assert send_code(web, recovery_page, "123456").status_code == 401
        assert send_code(web, recovery_page, codes[0], "recovery").status_code == 303


# -- the account lockout -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict(database_url: str) -> Iterator[LiveServer]:
    """A server that locks an account after three failures (passwords and codes alike)."""
    lockout = {"account_threshold": THRESHOLD, "ip_threshold": 100_000, "base_lock": 120}
    with own_server(database_url, lockout=lockout) as live:
        yield live


def wrong_passwords(web: httpx.Client, username: str, count: int = THRESHOLD - 1) -> None:
    for _ in range(count):
        assert password_step(web, username, "wrong password!").status_code == 401


def test_wrong_codes_lock_the_account_like_wrong_passwords(strict: LiveServer) -> None:
    username, secret, codes = enrolled_user(strict)
    with browser(strict) as web:
        page = to_code_page(web, username)
        for _ in range(THRESHOLD):
            assert send_code(web, page, wrong_code(secret)).status_code == 401
        # Locked: not even the right code or a recovery code is looked at.
        for code, method in ((code_at(secret, steady_step() + 1), "totp"), (codes[0], "recovery")):
            locked = send_code(web, page, code, method)
            assert locked.status_code == 429, locked.text
            assert 60 < int(locked.headers["retry-after"]) <= 120
            assert "Too many failed attempts" in locked.text
        assert not is_signed_in(web)
    assert recovery_left(strict, username) == 10
    with browser(strict) as web:
        # The password form honours the same lock.
        assert password_step(web, username).status_code == 429
    reasons = [e.reason for e in audit_of(strict, username, "mfa.failed")]
    assert reasons == ["wrong_code"] * THRESHOLD + ["locked"] * 2


def test_right_password_does_not_forgive_failures_when_a_code_follows(strict: LiveServer) -> None:
    username, secret, _ = enrolled_user(strict)
    with browser(strict) as web:
        wrong_passwords(web, username)
        page = to_code_page(web, username)
        # The two wrong passwords still count: one wrong code makes three.
        assert send_code(web, page, wrong_code(secret)).status_code == 401
        assert send_code(web, page, code_at(secret, steady_step() + 1)).status_code == 429


def test_right_code_forgives_the_failures(strict: LiveServer) -> None:
    username, secret, _ = enrolled_user(strict)
    with browser(strict) as web:
        wrong_passwords(web, username)
        page = to_code_page(web, username)
        assert send_code(web, page, code_at(secret, steady_step() + 1)).status_code == 303
    with browser(strict) as web:
        wrong_passwords(web, username)
        # Had the earlier failures stayed, this would be the third: it is the second.
        assert password_step(web, username).status_code == 303


# -- the MFA setting ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def required(database_url: str) -> Iterator[LiveServer]:
    with own_server(database_url, mfa="required") as live:
        yield live


switched_off = test_account_security.mfa_off


def test_mfa_required_without_factor_signs_in_to_the_security_page(required: LiveServer) -> None:
    username = make_user(required)
    with browser(required) as web:
        answer = password_step(web, username, next_path="/account/sessions")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/account/security?notice=mfa-required"
        page = web.get(answer.headers["location"])
        assert "requires a second factor" in page.text
        secret, codes = enrol_totp(web)
        assert len(codes) == 10
    with browser(required) as web:
        page = to_code_page(web, username)
        assert send_code(web, page, code_at(secret, steady_step() + 1)).status_code == 303


def test_role_requiring_mfa_leads_a_user_without_factor_to_enrol(server: LiveServer) -> None:
    username = make_user(server)
    role = unique("guarded")

    async def grant(services: Services) -> None:
        user = await services.store.users.by_username(username)
        assert user is not None
        await services.store.access.create_role(role, require_mfa=True)
        await services.store.access.assign(user.id, role)

    server.call(grant)
    with browser(server) as web:
        answer = password_step(web, username)
        assert answer.headers["location"] == "/account/security?notice=mfa-required"
        assert session_of(server, web.cookies[SESSION_COOKIE]).amr == ("pwd",)


def test_mfa_off_signs_in_on_the_password_alone(
    server: LiveServer, switched_off: LiveServer
) -> None:
    # Enrolled while MFA was on (the shared server), then the setting is switched off.
    username, _, _ = enrolled_user(server)
    with browser(switched_off) as web:
        answer = password_step(web, username)
        assert answer.headers["location"] == "/account"
        assert session_of(switched_off, web.cookies[SESSION_COOKIE]).amr == ("pwd",)
        # The code page is not served either.
        web.cookies.set(MFA_COOKIE, "ost_ml_anything")
        assert web.get("/account/login/mfa").status_code == 303
