"""One account per email address (compared case-insensitively), at every door, against a
real server on SQLite and PostgreSQL: command line (create, update), admin API (create,
patch: 409 problem), SCIM (create, replace, patch: 409 uniqueness, RFC 7644 §3.12),
federation just-in-time provisioning (409 page); nothing is stored. Password reset for an
address several accounts share (rows stored before the rule) sends nothing and answers as
for an unknown address."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text, update

from ostiary.domain import identifiers
from ostiary.federation.connectors.base import Identity
from ostiary.federation.errors import FederationError
from ostiary.federation.linking import resolve_user
from ostiary.services import Services
from ostiary.storage import email_index
from ostiary.storage.tables import users
from tests.conftest import LiveServer
from tests.e2e import account_fixtures
from tests.e2e import test_identity_fields as fields
from tests.e2e.account_fixtures import Mailbox
from tests.e2e.helpers import browser, csrf_of
from tests.e2e.scim_fixtures import PATCH_SCHEMA, USER_SCHEMA

doors = fields.doors
mailbox = account_fixtures.mailbox
mail_server = account_fixtures.mail_server
Doors = fields.Doors
ok = fields.ok


def test_an_address_in_use_is_refused_by_every_door_in_any_case(doors: Doors) -> None:
    tag = secrets.token_hex(4)
    address = f"Shared-{tag}@Example.com"
    owner = fields.via_admin(doors, f"owner-{tag}", address)
    other = fields.via_admin(doors, f"other-{tag}", f"other-{tag}@example.com")
    before = fields.user_count(doors.server)
    variants = [address, address.lower(), address.upper().replace("EXAMPLE.COM", "example.com")]

    # Command line: one line, exit 1 (the other cases are the same comparison).
    typed = variants[2]
    created, changed = doors.cli_all(
        ("user", "create", "--username", f"cli-{tag}", "--email", typed),
        ("user", "update", other, "--email", typed),
    )
    # The address as it would be stored: the domain lowercased (identifiers.email).
    stored = identifiers.email(typed)
    for result in (created, changed):
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"error: email {stored!r} belongs to another account"
        ]

    for typed in variants:
        stored = identifiers.email(typed)
        # Admin API: RFC 9457 problem, 409.
        posted = doors.admin.post("/users", json={"username": f"api-{tag}", "email": typed})
        assert posted.status_code == 409, posted.text
        assert posted.headers["content-type"] == "application/problem+json"
        assert posted.json()["detail"] == f"email {stored!r} belongs to another account"
        patched = doors.admin.patch(f"/users/{other}", json={"email": typed})
        assert patched.status_code == 409, patched.text

        # SCIM: RFC 7644 §3.12 409 with scimType uniqueness, for create, PUT and PATCH.
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"scim-{tag}",
            "emails": [{"value": typed, "primary": True}],
        }
        scim_post = doors.scim.post("/Users", json=body)
        assert scim_post.status_code == 409, scim_post.text
        assert scim_post.json()["scimType"] == "uniqueness"
        assert "emails" in scim_post.json()["detail"]
        put = doors.scim.put(f"/Users/{other}", json={**body, "userName": f"other-{tag}"})
        assert put.status_code == 409 and put.json()["scimType"] == "uniqueness", put.text
        operations = [{"op": "replace", "path": "emails", "value": [{"value": typed}]}]
        scim_patch = doors.scim.patch(
            f"/Users/{other}", json={"schemas": [PATCH_SCHEMA], "Operations": operations}
        )
        assert scim_patch.status_code == 409, scim_patch.text
        assert scim_patch.json()["scimType"] == "uniqueness"

        # Federation: an upstream identity with the address gets no second account.
        identity = Identity(
            subject=uuid.uuid4().hex, email=typed, email_verified=False, username_hint=f"f{tag}"
        )
        with pytest.raises(FederationError) as refused:
            doors.server.call(
                lambda s, i=identity: resolve_user(s, doors.provider, i, link_user_id=None)
            )
        assert refused.value.status == 409

    assert fields.user_count(doors.server) == before
    assert ok(doors.admin.get(f"/users/{other}"))["email"] == f"other-{tag}@example.com"
    assert ok(doors.admin.get(f"/users/{owner}"))["email"] == "Shared-" + tag + "@example.com"
    # The owner may change the case of its own address; a freed address may be taken.
    ok(doors.admin.patch(f"/users/{owner}", json={"email": f"SHARED-{tag}@example.com"}))
    ok(doors.admin.patch(f"/users/{owner}", json={"email": None}))
    moved = doors.cli("user", "update", other, "--email", address, "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["email"] == f"Shared-{tag}@example.com"
    cleared = doors.cli("user", "update", other, "--clear-email", "--json")
    assert json.loads(cleared.stdout)["email"] is None, cleared.stderr


# -- rows stored before the rule ----------------------------------------------------------


def _without_index(server: LiveServer) -> None:
    async def drop(services: Services) -> None:
        async with services.engine.begin() as conn:
            await conn.execute(text(f"DROP INDEX {email_index.users_email_index.name}"))

    server.call(drop)


def _restore_index(server: LiveServer, user_ids: list[str]) -> None:
    async def restore(services: Services) -> list[email_index.DuplicateGroup]:
        async with services.engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id.in_(user_ids)).values(email=None))
            return await conn.run_sync(email_index.ensure)

    assert server.call(restore) == []


@pytest.fixture
def shared_pair(mail_server: LiveServer) -> Iterator[tuple[str, str, str]]:
    """Two accounts sharing one address in two cases, written as an older release did
    (the index is dropped for the test and restored after, once they are apart)."""
    tag = secrets.token_hex(4)
    address = f"twice-{tag}@example.com"
    _without_index(mail_server)
    ids: list[str] = []
    try:
        for name, stored in ((f"first-{tag}", address), (f"second-{tag}", address.upper())):
            ids.append(fields.insert_legacy(mail_server, name, stored))
        yield f"first-{tag}", f"second-{tag}", address
    finally:
        _restore_index(mail_server, ids)


def _forgot(server: LiveServer, identifier: str) -> httpx.Response:
    with browser(server) as web:
        form = web.get("/account/forgot")
        answer = web.post(
            "/account/forgot", data={"csrf": csrf_of(form.text), "identifier": identifier}
        )
    server.call(lambda services: services.drain(10))
    return answer


def test_reset_for_a_shared_address_sends_nothing_and_answers_as_for_an_unknown_one(
    mail_server: LiveServer,
    mailbox: Mailbox,
    shared_pair: tuple[str, str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second, address = shared_pair
    unknown = _forgot(mail_server, f"nobody-{secrets.token_hex(4)}@example.com")
    with caplog.at_level(logging.WARNING, logger="ostiary.accounts"):
        for identifier in (address, address.upper(), first, second):
            answer = _forgot(mail_server, identifier)
            assert answer.status_code == unknown.status_code == 200
            assert answer.text == unknown.text
    # Nothing went to the shared mailbox, whichever way the account was named.
    assert mailbox.to(address) == [] and mailbox.to(address.upper()) == []
    warned = [r.getMessage() for r in caplog.records if "nothing sent" in r.getMessage()]
    assert len(warned) == 4, warned
    assert all(address not in w.lower() for w in warned)
