"""Unlinking an upstream identity from the console's user page: the button, the admin's
audit event (``federation.unlinked``, as the account page writes it), the 404 for an
identity the user does not have, and the rule that only an admin changes a console-role
holder."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import insert

from ostiary import clock
from ostiary.domain.audit import AuditEvent
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.storage.tables import federation_providers
from tests.conftest import LiveServer, unique
from tests.e2e.console_helpers import (
    ConsoleUser,
    console_csrf,
    make_console_user,
    signed_in_client,
)


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> ConsoleUser:
    return make_console_user(server, "admin")


@pytest.fixture(scope="module")
def web(server: LiveServer, admin: ConsoleUser) -> Iterator[httpx.Client]:
    with signed_in_client(server, admin) as client:
        yield client


@pytest.fixture(scope="module")
def user_admin(server: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(server, make_console_user(server, "user-admin")) as client:
        yield client


def new_user(server: LiveServer) -> User:
    username = unique("linked")
    return server.call(
        lambda services: services.store.users.add(username=username, email=None, password_hash=None)
    )


def link(server: LiveServer, user_id: str, subject: str = "sub 123/x") -> str:
    """A provider of this test's own, and the user linked to ``subject`` there."""
    provider = unique("idp")

    async def go(services: Services) -> None:
        now = clock.now()
        async with services.engine.begin() as conn:
            await conn.execute(
                insert(federation_providers).values(
                    name=provider,
                    display_name="Upstream",
                    preset="oidc",
                    issuer="https://idp.example",
                    client_id="rp",
                    scopes=["openid"],
                    created_at=now,
                    updated_at=now,
                )
            )
        await services.store.federation.link(provider, subject, user_id, "up@example.com")

    server.call(go)
    return provider


def linked(server: LiveServer, user_id: str) -> list[tuple[str, str]]:
    found = server.call(lambda services: services.store.federation.for_user(user_id))
    return [(i.provider, i.subject) for i in found]


def unlink(web: httpx.Client, user_id: str, provider: str, subject: str) -> httpx.Response:
    csrf = console_csrf(web, f"/admin/users/{user_id}")
    return web.post(
        f"/admin/users/{user_id}/identities/unlink",
        data={"csrf": csrf, "provider": provider, "subject": subject},
    )


def events(server: LiveServer, user_id: str) -> list[AuditEvent]:
    async def read(services: Services) -> list[AuditEvent]:
        await services.audit.flush()
        return await services.store.audit.query(user_id=user_id, type="federation.unlinked")

    return server.call(read)


def test_an_admin_unlinks_one_identity(
    server: LiveServer, web: httpx.Client, admin: ConsoleUser
) -> None:
    user = new_user(server)
    provider = link(server, user.id)
    other = link(server, user.id, "kept")
    page = web.get(f"/admin/users/{user.id}").text
    section = page[page.index("Linked identities") : page.index("Second factors")]
    assert f'action="/admin/users/{user.id}/identities/unlink"' in section
    assert f'name="provider" value="{provider}"' in section
    assert 'name="subject" value="sub 123/x"' in section and "data-confirm=" in section

    answer = unlink(web, user.id, provider, "sub 123/x")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/admin/users/{user.id}"
    assert "is unlinked" in web.get(answer.headers["location"]).text
    assert linked(server, user.id) == [(other, "kept")]
    [event] = events(server, user.id)
    assert event.actor == f"admin:{admin.user_id}"
    assert event.details == {"provider": provider, "subject": "sub 123/x"}


def test_an_identity_the_user_does_not_have_is_404(server: LiveServer, web: httpx.Client) -> None:
    user, someone = new_user(server), new_user(server)
    provider = link(server, someone.id)
    assert unlink(web, user.id, provider, "sub 123/x").status_code == 404
    assert unlink(web, user.id, provider, "").status_code == 404
    assert linked(server, someone.id) == [(provider, "sub 123/x")]
    assert events(server, user.id) == []


def test_a_user_admin_unlinks_from_a_plain_user(
    server: LiveServer, user_admin: httpx.Client
) -> None:
    user = new_user(server)
    provider = link(server, user.id)
    assert unlink(user_admin, user.id, provider, "sub 123/x").status_code == 303
    assert linked(server, user.id) == []


def test_a_user_admin_may_not_unlink_from_a_console_role_holder(
    server: LiveServer, user_admin: httpx.Client
) -> None:
    holder = make_console_user(server, "auditor", with_totp=False)
    provider = link(server, holder.user_id)
    page = user_admin.get(f"/admin/users/{holder.user_id}").text
    assert "/identities/unlink" not in page
    assert unlink(user_admin, holder.user_id, provider, "sub 123/x").status_code == 403
    assert linked(server, holder.user_id) == [(provider, "sub 123/x")]


def test_unlinking_needs_the_csrf_token(server: LiveServer, web: httpx.Client) -> None:
    user = new_user(server)
    provider = link(server, user.id)
    answer = web.post(
        f"/admin/users/{user.id}/identities/unlink",
        data={"provider": provider, "subject": "sub 123/x"},
    )
    assert answer.status_code == 403
    assert linked(server, user.id) == [(provider, "sub 123/x")]
