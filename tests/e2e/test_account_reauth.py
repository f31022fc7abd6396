"""A change to a person's factors needs a recent sign-in: a session taken over (a stolen
cookie, a computer left unlocked) is not enough to add a factor, remove one or replace the
recovery codes. The person signs in again (``/account/login?prompt=login``, the second
factor included) and the change goes through; the session keeps its sid."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from ostiary import clock
from ostiary.accounts.mfa.changes import REAUTHENTICATE, RECENT_SIGN_IN
from ostiary.crypto.tokens import digest
from ostiary.services import Services
from ostiary.storage.tables import sessions
from ostiary.web.browser import SESSION_COOKIE
from tests.conftest import LiveServer
from tests.e2e.helpers import PASSWORD, browser, csrf_of, make_user
from tests.e2e.test_account_security import enrol_totp


def _sign_in(web: httpx.Client, username: str) -> None:
    page = web.get("/account/login")
    answer = web.post(
        "/account/login?next=/account/security",
        data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
    )
    assert answer.status_code == 303, answer.text


def _age_session(server: LiveServer, cookie: str) -> None:
    async def age(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id_hash == digest(cookie))
                .values(auth_time=clock.now() - RECENT_SIGN_IN - 5)
            )

    server.call(age)


def test_an_old_sign_in_cannot_change_factors_until_the_person_signs_in_again(
    server: LiveServer,
) -> None:
    username = make_user(server)
    with browser(server) as web:
        _sign_in(web, username)
        cookie = web.cookies[SESSION_COOKIE]
        _age_session(server, cookie)
        security = web.get("/account/security")
        assert security.status_code == 200
        for path, form in (
            ("/account/security/totp", {"name": "phone"}),
            ("/account/security/recovery-codes", {}),
            ("/account/security/remove", {"factor": "x"}),
        ):
            answer = web.post(path, data={"csrf": csrf_of(security.text), **form})
            assert answer.status_code == 303 and answer.headers["location"] == REAUTHENTICATE
        passkey = web.post(
            "/account/security/passkeys/options",
            json={"csrf": csrf_of(security.text)},
        )
        assert passkey.status_code == 403 and passkey.json()["location"] == REAUTHENTICATE
        # Signed in, yet the page asks again, with the person's name filled in.
        again = web.get(REAUTHENTICATE)
        assert again.status_code == 200 and "Sign in again" in again.text
        assert username in again.text
        done = web.post(
            "/account/login?next=/account/security",
            data={"csrf": csrf_of(again.text), "username": username, "password": PASSWORD},
        )
        assert done.status_code == 303
        security = web.get("/account/security")
        answer = web.post(
            "/account/security/totp", data={"csrf": csrf_of(security.text), "name": "phone"}
        )
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/account/security/totp?factor=")


def test_signing_in_again_asks_for_the_second_factor_too(server: LiveServer) -> None:
    username = make_user(server)
    with browser(server) as web:
        _sign_in(web, username)
        enrol_totp(web)
        _age_session(server, web.cookies[SESSION_COOKIE])
        again = web.get(REAUTHENTICATE)
        answer = web.post(
            "/account/login?next=/account/security",
            data={"csrf": csrf_of(again.text), "username": username, "password": PASSWORD},
        )
        assert answer.headers["location"].startswith("/account/login/mfa")
