"""The audit log against a real server: each event type with its fields, and no secrets.

Security events (logins, consent, revocation, client-authentication failures, account
changes) are written before the response, so they are checked at once. Token issuance and
refresh are queued and written in batches about once a second, so those are polled for.
The last test runs a whole flow with a password and tokens of its own and then searches
every audit row and every log line for them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from sqlalchemy import select

from ostiary import clock
from ostiary.accounts import lifecycle
from ostiary.accounts.throttle import account_key
from ostiary.domain.audit import AuditEvent
from ostiary.domain.users import User
from ostiary.events import AuditLog, scrub
from ostiary.services import Services
from ostiary.storage.tables import audit_events
from tests.conftest import LiveServer, free_port, server_settings, start_server, unique
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    login_and_consent,
    login_page,
    make_client,
    make_user,
    obtain_code,
    pkce_pair,
    query_of,
    redeem_code,
)

LOCAL = "127.0.0.1"
BATCH_WAIT = 3.0  # the queue is written every second


# -- helpers -------------------------------------------------------------------------------


def events(server: LiveServer, **filters: Any) -> list[AuditEvent]:
    return server.call(lambda services: services.store.audit.query(**filters, limit=1000))


def one(server: LiveServer, type: str, **filters: Any) -> AuditEvent:
    found = events(server, type=type, **filters)
    assert len(found) == 1, found
    return found[0]


def wait_for(server: LiveServer, type: str, **filters: Any) -> list[AuditEvent]:
    """Poll for a batched event until the queue has been written (about a second)."""
    deadline = time.monotonic() + BATCH_WAIT
    while True:
        found = events(server, type=type, **filters)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def user_of(server: LiveServer, username: str) -> User:
    user = server.call(lambda services: services.store.users.by_username(username))
    assert user is not None
    return user


def login_form(web: httpx.Client, client: RegisteredClient) -> tuple[str, str]:
    location, page = login_page(web, authorize_params(client, pkce_pair()[1]))
    return location, csrf_of(page.text)


def try_login(
    server: LiveServer, client: RegisteredClient, username: str, password: str
) -> httpx.Response:
    with browser(server) as web:
        location, csrf = login_form(web, client)
        return web.post(
            f"{location}/login", data={"csrf": csrf, "username": username, "password": password}
        )


def exchange(
    http: httpx.Client, client: RegisteredClient, code: str, verifier: str, redirect_uri: str
) -> dict[str, Any]:
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=client.basic_auth(),
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(http: httpx.Client, client: RegisteredClient, token: str) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=client.basic_auth(),
    )


def tokens_for(server: LiveServer, client: RegisteredClient, username: str) -> dict[str, Any]:
    code, verifier, params = obtain_code(server, client, username)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        return exchange(http, client, code, verifier, params["redirect_uri"])


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_recent(event: AuditEvent, since: int) -> None:
    assert event.id is not None
    assert since <= event.at <= clock.now()


# -- each event type -----------------------------------------------------------------------


def test_login_consent_token_and_revocation_events(server: LiveServer) -> None:
    since = clock.now()
    client = make_client(server)
    username = make_user(server)
    user = user_of(server, username)
    code, verifier, params = obtain_code(server, client, username)

    success = one(server, "login.success", user_id=user.id)
    assert_recent(success, since)
    assert success.actor == f"user:{user.id}"
    assert success.outcome == "success"
    assert success.client_id == client.client_id
    assert success.ip == LOCAL
    assert success.reason is None
    assert success.details == {"method": "pwd"}

    consent = one(server, "consent.granted", user_id=user.id)
    assert_recent(consent, since)
    assert consent.actor == f"user:{user.id}"
    assert consent.outcome == "success"
    assert consent.client_id == client.client_id
    assert consent.details == {"scope": "read"}

    machine = make_client(server, redirect_uris=[], scopes=["read"])
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        tokens = exchange(http, client, code, verifier, params["redirect_uri"])
        rotated = refresh(http, client, tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        granted = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "read"},
            auth=machine.basic_auth(),
        )
        assert granted.status_code == 200, granted.text

        # Revocation is a security event: written before the response.
        access = rotated.json()["access_token"]
        revoked = http.post("/revoke", data={"token": access}, auth=client.basic_auth())
        assert revoked.status_code == 200
        event = one(server, "token.revoked", client_id=client.client_id)
        assert_recent(event, since)
        assert event.actor == f"client:{client.client_id}"
        assert event.outcome == "success"
        assert event.user_id == user.id
        # (what kind of token it was: see test_audit_details_keep_counts_and_token_types)
        assert set(event.details) == {"token_type", "jti"}
        assert event.details["jti"] == jwt_claims(access)["jti"]

        revoked = http.post(
            "/revoke", data={"token": rotated.json()["refresh_token"]}, auth=client.basic_auth()
        )
        assert revoked.status_code == 200
        both = events(server, type="token.revoked", client_id=client.client_id)
        assert [set(e.details) for e in both] == [{"token_type", "jti"}, {"token_type", "family"}]
        assert both[1].user_id == user.id
        assert both[1].details["family"]

    # Issuance and refresh are queued and written with the next batch.
    refreshed = wait_for(server, "token.refreshed", client_id=client.client_id)
    assert len(refreshed) == 1, refreshed
    assert_recent(refreshed[0], since)
    assert refreshed[0].actor == f"client:{client.client_id}"
    assert refreshed[0].user_id == user.id
    assert refreshed[0].outcome == "success"
    assert refreshed[0].details == {"scope": "read"}

    issued = wait_for(server, "token.issued", client_id=client.client_id)
    assert len(issued) == 1, issued
    assert_recent(issued[0], since)
    assert issued[0].actor == f"client:{client.client_id}"
    assert issued[0].user_id == user.id
    assert issued[0].outcome == "success"
    assert issued[0].details == {"grant_type": "authorization_code", "scope": "read"}

    # Client credentials: no user.
    issued = wait_for(server, "token.issued", client_id=machine.client_id)
    assert len(issued) == 1, issued
    assert issued[0].user_id is None
    assert issued[0].actor == f"client:{machine.client_id}"
    assert issued[0].details == {"grant_type": "client_credentials", "scope": "read"}


def test_login_failure_reasons(server: LiveServer) -> None:
    client = make_client(server)
    username = make_user(server)
    user = user_of(server, username)
    stranger = unique("nobody")

    assert try_login(server, client, stranger, PASSWORD).status_code == 401
    assert try_login(server, client, username, "not the password").status_code == 401

    # A disabled account with the right password: refused, and recorded as disabled.
    server.call(lambda services: services.store.users.set_disabled(user.id, True))
    assert try_login(server, client, username, PASSWORD).status_code == 401
    server.call(lambda services: services.store.users.set_disabled(user.id, False))

    # A locked account: put the lock in the table as another node would have.
    key = account_key(username)

    async def lock(services: Services) -> None:
        await services.store.throttles.fail(key, window=900)
        await services.store.throttles.lock(key, clock.now() + 60)

    server.call(lock)
    try:
        assert try_login(server, client, username, PASSWORD).status_code == 429
    finally:
        server.call(lambda services: services.throttle.unlock([key]))

    failures = [
        e
        for e in events(server, type="login.failure", client_id=client.client_id)
        if e.details.get("username") in (username, stranger)
    ]
    assert [(e.reason, e.user_id, e.details["username"]) for e in failures] == [
        ("unknown_user", None, stranger),
        ("bad_password", user.id, username),
        ("disabled", user.id, username),
        ("locked", None, username),
    ]
    for event in failures:
        assert event.actor == "anonymous"
        assert event.outcome == "failure"
        assert event.ip == LOCAL
        assert set(event.details) == {"username"}
    assert events(server, type="login.success", user_id=user.id) == []


def test_client_auth_failure_is_recorded_with_client_and_address(server: LiveServer) -> None:
    client = make_client(server, redirect_uris=[], scopes=["read"])
    ghost = unique("ghost")
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        data = {"grant_type": "client_credentials"}
        assert http.post("/token", data=data, auth=(client.client_id, "bad")).status_code == 401
        assert http.post("/token", data=data, auth=(ghost, "bad")).status_code == 401
        # Introspection and revocation authenticate through the same guard.
        introspect = http.post("/introspect", data={"token": "x"}, auth=(client.client_id, "b"))
        assert introspect.status_code == 401

    mine = events(server, type="client_auth.failure", client_id=client.client_id)
    assert len(mine) == 2, mine
    for event in mine:
        assert event.actor == "anonymous"
        assert event.outcome == "failure"
        assert event.ip == LOCAL
        assert event.user_id is None
        assert event.reason == "client authentication failed"
    unknown = one(server, "client_auth.failure", client_id=ghost)
    assert unknown.reason == "unknown client"
    assert unknown.ip == LOCAL


def test_disable_delete_and_client_revoke_are_recorded(server: LiveServer) -> None:
    client = make_client(server)
    username = make_user(server)
    user = user_of(server, username)
    tokens_for(server, client, username)

    server.call(lambda services: lifecycle.disable(services, user, actor="admin:tester"))
    disabled = one(server, "user.disabled", user_id=user.id)
    assert disabled.actor == "admin:tester"
    assert disabled.outcome == "success"
    assert set(disabled.details) == {"sessions_ended", "refresh_tokens_revoked"}
    assert disabled.details["sessions_ended"] == 1

    other = make_user(server)
    tokens_for(server, client, other)
    server.call(
        lambda services: lifecycle.revoke_client_tokens(
            services, client.client_id, actor="admin:tester"
        )
    )
    revoked = one(server, "client.tokens_revoked", client_id=client.client_id)
    assert revoked.actor == "admin:tester"
    # (the count also takes in the disabled user's token, revoked before: see the report)
    assert revoked.details["count"] >= 1

    server.call(lambda services: lifecycle.delete(services, user, actor="admin:tester"))
    stand_in = lifecycle.pseudonym(server.services, user.id)
    deleted = one(server, "user.deleted", user_id=stand_in)
    assert deleted.actor == "admin:tester"
    assert set(deleted.details) == {"sessions_ended", "refresh_tokens_revoked"}
    assert deleted.details["sessions_ended"] == 0
    # The earlier events keep their shape under the pseudonym, without the address.
    assert events(server, user_id=user.id) == []
    kept = {e.type: e for e in events(server, user_id=stand_in)}
    assert {"login.success", "consent.granted", "user.disabled", "user.deleted"} <= set(kept)
    assert kept["login.success"].ip is None
    assert kept["login.success"].actor == f"user:{stand_in}"


def test_audit_details_keep_counts_and_token_types(server: LiveServer) -> None:
    client = make_client(server)
    username = make_user(server)
    user = user_of(server, username)
    tokens = tokens_for(server, client, username)
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for token in (tokens["access_token"], tokens["refresh_token"]):
            assert http.post("/revoke", data={"token": token}, auth=client.basic_auth()).is_success
    kinds = [e.details["token_type"] for e in events(server, type="token.revoked", user_id=user.id)]
    assert kinds == ["access_token", "refresh_token"]

    other = user_of(server, make_user(server))
    server.call(lambda services: lifecycle.disable(services, other))
    disabled = one(server, "user.disabled", user_id=other.id)
    assert disabled.details == {"sessions_ended": 0, "refresh_tokens_revoked": 0}


def test_scrub_still_redacts_secret_keys() -> None:
    """The redaction above must not go too far the other way when it is fixed."""
    scrubbed = scrub(
        {"password": "p", "client_secret": "s", "code": "c", "refresh_token": "r", "scope": "x"}
    )
    assert scrubbed == {
        "password": "[redacted]",
        "client_secret": "[redacted]",
        "code": "[redacted]",
        "refresh_token": "[redacted]",
        "scope": "x",
    }


def test_deleted_user_is_not_named_in_the_audit_log(server: LiveServer) -> None:
    client = make_client(server)
    username = make_user(server)
    user = user_of(server, username)
    assert try_login(server, client, username, "a typo").status_code == 401
    obtain_code(server, client, username)  # login.success, consent.granted

    server.call(lambda services: lifecycle.delete(services, user))
    rows = [json.dumps(e.as_json()) for e in events(server, client_id=client.client_id)]
    assert not [row for row in rows if username in row or user.id in row]


# -- batched events and deletion -----------------------------------------------------------


async def _never_flush(self: AuditLog) -> None:
    """AuditLog.run without its timer: the queue is written only when the test says so."""
    await asyncio.Event().wait()


@pytest.fixture
def quiet_server(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server whose audit queue is flushed only on demand (the timer is patched out for
    this server's start only; other servers keep theirs)."""
    port = free_port()
    with monkeypatch.context() as patch:
        patch.setattr(AuditLog, "run", _never_flush)
        live, stop = start_server(server_settings(database_url, port), port)
    yield live
    stop()


def test_batched_events_of_a_deleted_user_are_pseudonymised(quiet_server: LiveServer) -> None:
    server = quiet_server
    client = make_client(server)
    username = make_user(server)
    user = user_of(server, username)
    tokens_for(server, client, username)
    assert events(server, type="token.issued", user_id=user.id) == [], "still queued"

    server.call(lambda services: lifecycle.delete(services, user))
    server.call(lambda services: services.audit.flush())
    written = events(server, type="token.issued", client_id=client.client_id)
    assert len(written) == 1
    assert written[0].user_id != user.id


# -- no secret in audit rows or logs --------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(CLIENT_SIDE):
            return  # the test's own HTTP client logs the redirects it follows
        self.lines.append(self.format(record))
        self.lines.append(repr(record.args))


CLIENT_SIDE = ("httpx", "httpcore")
# uvicorn's own loggers do not propagate to the root logger, so they get the handler too.
LOGGERS = ["", "ostiary", "uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy"]


@pytest.fixture
def all_logs() -> Iterator[Capture]:
    """Every log record of the process at DEBUG: the server runs in this process."""
    capture = Capture()
    saved: list[tuple[logging.Logger, int]] = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger, level in saved:
            logger.removeHandler(capture)
            logger.setLevel(level)


def _variants(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def test_no_secret_in_audit_rows_or_logs(server: LiveServer, all_logs: Capture) -> None:
    """Issue #4: grep the logs and the audit rows for a known password and tokens."""
    password = f"Zq!{secrets.token_hex(6)} ümlaut ~pw~"
    mistyped = f"Xy#{secrets.token_hex(6)} wrong"
    client = make_client(server, scopes=["openid", "read"], session_refresh_tokens=True)
    assert client.secret is not None
    username = make_user(server, password=password)
    found: dict[str, str] = {
        "password": password,
        "mistyped password": mistyped,
        "client secret": client.secret,
        "wrong client secret": client.secret[:-4] + "AAAA",
    }

    with browser(server) as web, httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert try_login(server, client, username, mistyped).status_code == 401
        verifier, challenge = pkce_pair()
        params = authorize_params(client, challenge, scope="openid read")
        response = login_and_consent(web, params, username, password)
        code = query_of(response.headers["location"])["code"]
        found["authorization code"] = code
        found["code verifier"] = verifier
        found.update({f"cookie {k}": v for k, v in web.cookies.items()})

        tokens = exchange(http, client, code, verifier, params["redirect_uri"])
        found["access token"] = tokens["access_token"]
        found["refresh token"] = tokens["refresh_token"]
        # A replayed code and a wrong secret are failures that get logged and audited.
        replay = redeem_code(http, client, code, verifier, params)
        assert replay.status_code == 400
        wrong = http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(client.client_id, found["wrong client secret"]),
        )
        assert wrong.status_code == 401

        tokens = exchange(
            http, client, *_fresh_code(server, web, client, username, password, found)
        )
        found["second access token"] = tokens["access_token"]
        rotated = refresh(http, client, tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        found["second refresh token"] = tokens["refresh_token"]
        found["rotated access token"] = rotated.json()["access_token"]
        found["rotated refresh token"] = rotated.json()["refresh_token"]
        access = rotated.json()["access_token"]
        assert http.get("/userinfo", headers={"authorization": f"Bearer {access}"}).is_success
        assert http.post("/introspect", data={"token": access}, auth=client.basic_auth()).json()[
            "active"
        ]
        # Reuse of a rotated-out refresh token, then revocation of both kinds.
        assert refresh(http, client, tokens["refresh_token"]).status_code == 400
        for token in (access, rotated.json()["refresh_token"]):
            assert http.post("/revoke", data={"token": token}, auth=client.basic_auth()).is_success

    assert wait_for(server, "token.refreshed", client_id=client.client_id)
    rows = server.call(_all_audit_rows)
    assert any(client.client_id in row for row in rows), "the flow was audited"
    audit = "\n".join(rows)
    logs = "\n".join(all_logs.lines)
    assert logs, "nothing was logged at all: the capture is broken"
    # The server's request log and its SQL (echoed at DEBUG) were captured too.
    assert any(line.startswith("uvicorn.access") and "/token" in line for line in all_logs.lines)
    assert any(line.startswith("sqlalchemy.engine") for line in all_logs.lines)
    for name, secret in found.items():
        assert len(secret) >= 8, name
        for form in _variants(secret):
            assert form not in audit, f"{name} found in the audit log"
            assert form not in logs, f"{name} found in the log output"


def _fresh_code(
    server: LiveServer,
    web: httpx.Client,
    client: RegisteredClient,
    username: str,
    password: str,
    found: dict[str, str],
) -> tuple[str, str, str]:
    """Another code in the same signed-in browser (no password, no consent asked)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="openid read")
    response = login_and_consent(web, params, username, password)
    code = query_of(response.headers["location"])["code"]
    found["second authorization code"] = code
    found["second code verifier"] = verifier
    return code, verifier, params["redirect_uri"]


async def _all_audit_rows(services: Services) -> list[str]:
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).all()
    return [json.dumps(dict(r._mapping), default=str, ensure_ascii=False) for r in rows]
