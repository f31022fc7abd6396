"""Password reset by mail, end to end: a real server mailing a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update

from ostiary import clock
from ostiary.accounts import mail
from ostiary.services import Services
from ostiary.settings import SmtpSettings
from ostiary.storage.tables import one_time_tokens
from tests.conftest import LiveServer
from tests.e2e import account_fixtures
from tests.e2e.account_fixtures import (
    Mailbox,
    account_login,
    is_signed_in,
    link_in,
    signed_in_browser,
)
from tests.e2e.helpers import PASSWORD, browser, csrf_of, make_user

# The shared fixtures: a real SMTP server and an Ostiary server mailing through it.
mailbox = account_fixtures.mailbox
mail_server = account_fixtures.mail_server

NEW_PASSWORD = "a brand new passphrase 42"


def forgot(web: httpx.Client, identifier: str) -> httpx.Response:
    form = web.get("/account/forgot")
    assert form.status_code == 200, form.text
    return web.post("/account/forgot", data={"csrf": csrf_of(form.text), "identifier": identifier})


def reset_link(server: LiveServer, mailbox: Mailbox, username: str, count: int = 1) -> str:
    with browser(server) as web:
        answer = forgot(web, username)
    assert answer.status_code == 200, answer.text
    message = mailbox.wait_for(f"{username}@example.com", count)
    assert message["From"] == "ostiary@example.com"
    link = link_in(message)
    assert link.startswith(f"{server.base_url}/account/reset?token=ost_rs_")
    return link


def submit_reset(web: httpx.Client, link: str, password: str = NEW_PASSWORD) -> httpx.Response:
    path = urlsplit(link)
    form = web.get(f"{path.path}?{path.query}")
    if form.status_code != 200:
        return form
    token = path.query.removeprefix("token=")
    return web.post(
        "/account/reset",
        data={
            "csrf": csrf_of(form.text),
            "token": token,
            "new_password": password,
            "confirm_password": password,
        },
    )


def drain(server: LiveServer) -> None:
    """Wait for the server's background work (the forgot-password handling)."""
    server.call(lambda services: services.drain(10))


def test_reset_link_from_mail_sets_new_password_and_old_one_fails(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)
    with browser(mail_server) as web:
        done = submit_reset(web, link)
        assert done.status_code == 200, done.text
        assert "Password changed" in done.text
    with browser(mail_server) as web:
        assert account_login(web, username, PASSWORD).status_code == 401
        assert account_login(web, username, NEW_PASSWORD).status_code == 303


def test_reset_ends_every_session_of_the_user(mail_server: LiveServer, mailbox: Mailbox) -> None:
    username = make_user(mail_server)
    with signed_in_browser(mail_server, username) as elsewhere:
        link = reset_link(mail_server, mailbox, username)
        with browser(mail_server) as web:
            assert submit_reset(web, link).status_code == 200
        assert not is_signed_in(elsewhere)


def test_reset_link_is_single_use(mail_server: LiveServer, mailbox: Mailbox) -> None:
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)
    with browser(mail_server) as web:
        assert submit_reset(web, link).status_code == 200
        again = submit_reset(web, link, "yet another passphrase 43")
        assert again.status_code == 400
        assert "expired or was used" in again.text
    with browser(mail_server) as web:
        assert account_login(web, username, NEW_PASSWORD).status_code == 303


def test_reset_form_only_peeks_so_a_mail_scanner_cannot_use_the_link(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)
    with browser(mail_server) as scanner:
        assert scanner.get(link).status_code == 200
        assert scanner.get(link).status_code == 200
    with browser(mail_server) as web:
        assert submit_reset(web, link).status_code == 200


def test_expired_reset_link_is_refused(mail_server: LiveServer, mailbox: Mailbox) -> None:
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)

    async def expire(services: Services) -> None:
        user = await services.store.users.by_username(username)
        assert user is not None
        async with services.engine.begin() as conn:
            await conn.execute(
                update(one_time_tokens)
                .where(one_time_tokens.c.user_id == user.id)
                .values(expires_at=clock.now() - 1)
            )

    mail_server.call(expire)
    with browser(mail_server) as web:
        refused = submit_reset(web, link)
        assert refused.status_code == 400
        assert "expired or was used" in refused.text
        assert account_login(web, username, PASSWORD).status_code == 303


def test_forgot_for_unknown_user_sends_nothing_and_answers_the_same(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    before = len(mailbox.messages)
    with browser(mail_server) as web:
        unknown = forgot(web, "nobody-by-that-name")
        unknown_email = forgot(web, "nobody@example.com")
        known = forgot(web, username)
    drain(mail_server)
    mailbox.wait_for(f"{username}@example.com")
    assert unknown.status_code == unknown_email.status_code == known.status_code == 200
    assert unknown.text == unknown_email.text == known.text
    assert len(mailbox.messages) == before + 1


def test_forgot_accepts_the_email_address(mail_server: LiveServer, mailbox: Mailbox) -> None:
    username = make_user(mail_server)
    with browser(mail_server) as web:
        assert forgot(web, f"{username.upper()}@EXAMPLE.COM").status_code == 200
    link = link_in(mailbox.wait_for(f"{username}@example.com"))
    with browser(mail_server) as web:
        assert submit_reset(web, link).status_code == 200


def test_reset_applies_the_password_policy_and_keeps_the_link(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)
    with browser(mail_server) as web:
        for weak, reason in [
            ("short", "at least 12 characters"),
            ("Password1234", "most commonly used"),
            (username, "username or email"),
        ]:
            refused = submit_reset(web, link, weak)
            assert refused.status_code == 400
            assert reason in refused.text
        assert submit_reset(web, link).status_code == 200


def test_forms_before_sign_in_need_the_csrf_token(
    mail_server: LiveServer, mailbox: Mailbox
) -> None:
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)
    token = urlsplit(link).query.removeprefix("token=")
    with browser(mail_server) as web:
        web.get("/account/forgot")  # the browser cookie alone is not enough
        for path, data in [
            ("/account/login", {"username": username, "password": PASSWORD}),
            ("/account/forgot", {"identifier": username}),
            ("/account/reset", {"token": token, "new_password": NEW_PASSWORD}),
        ]:
            assert web.post(path, data=data).status_code == 403
            assert web.post(path, data={**data, "csrf": "forged"}).status_code == 403
    with browser(mail_server) as web:
        assert submit_reset(web, link).status_code == 200


def test_reset_tokens_never_reach_the_audit_log_or_the_logs(
    mail_server: LiveServer, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    username = make_user(mail_server)
    link = reset_link(mail_server, mailbox, username)
    token = urlsplit(link).query.removeprefix("token=")
    with browser(mail_server) as web:
        assert submit_reset(web, link).status_code == 200

    async def events(services: Services) -> str:
        await services.audit.flush()
        user = await services.store.users.by_username(username)
        assert user is not None
        return repr(await services.store.audit.query(user_id=user.id))

    audit = mail_server.call(events)
    assert "password.reset_requested" in audit and "password.reset" in audit
    assert token not in audit and "ost_rs_" not in audit
    # The test's HTTP client and SMTP server log what they carry; the rest is Ostiary's.
    server_log = "\n".join(
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore", "mail."))
    )
    assert "password-reset mail for user" in server_log
    assert "ost_rs_" not in server_log


def test_without_smtp_host_nothing_is_sent_and_the_log_has_no_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ostiary.mail")
    link = "http://127.0.0.1/account/reset?token=ost_rs_secret"
    message = mail.Mail("a@example.com", "Reset", f"open {link}", "password-reset", "user-1")
    assert asyncio.run(mail.send(SmtpSettings(), message)) is False
    assert "OSTIARY_SMTP__HOST is not set" in caplog.text
    assert "user-1" in caplog.text
    assert "ost_rs_" not in caplog.text and "a@example.com" not in caplog.text
