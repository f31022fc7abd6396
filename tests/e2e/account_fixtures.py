"""A real SMTP server (aiosmtpd) and an Ostiary server that mails through it.

Test modules import the fixtures by name: ``from tests.e2e.account_fixtures import ...``.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import LiveServer, free_port, server_settings, start_server
from tests.e2e.helpers import PASSWORD, browser, csrf_of

LINK = re.compile(r"http://\S+/account/(?:reset|verify)\?token=\S+")


class Mailbox:
    """An aiosmtpd handler that keeps every message and lets tests wait for one."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._changed = threading.Condition()
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            self.messages.append(message)  # type: ignore[arg-type]
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._changed:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10) -> EmailMessage:
        """The ``count``-th message to ``address``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := [m for m in self.messages if m["To"] == address]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail #{count} to {address} within {timeout}s")
                self._changed.wait(left)
        return found[count - 1]


def link_in(message: EmailMessage) -> str:
    body = message.get_content()
    match = LINK.search(body)
    assert match, body
    return match.group(0)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture(scope="module")
def mail_server(database_url: str, mailbox: Mailbox) -> Iterator[LiveServer]:
    """An Ostiary server whose smtp settings point at the test mailbox."""
    port = free_port()
    smtp = {"host": "127.0.0.1", "port": mailbox.port, "sender": "ostiary@example.com"}
    live, stop = start_server(server_settings(database_url, port, smtp=smtp), port)
    yield live
    stop()


def account_login(web: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in on /account/login; returns the answer to the POST."""
    form = web.get("/account/login")
    assert form.status_code == 200, form.text
    return web.post(
        "/account/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
    )


@contextlib.contextmanager
def signed_in_browser(
    server: LiveServer, username: str, password: str = PASSWORD
) -> Iterator[httpx.Client]:
    """A browser signed in through /account/login."""
    with browser(server) as web:
        response = account_login(web, username, password)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account"
        yield web


def is_signed_in(web: httpx.Client) -> bool:
    response = web.get("/account")
    if response.status_code == 303:
        assert response.headers["location"].startswith("/account/login")
        return False
    assert response.status_code == 200, response.text
    return True
