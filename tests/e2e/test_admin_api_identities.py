"""/admin/api/v1/users/{id}/identities: the upstream identities linked to a user, listed
and unlinked through the operation the console's Unlink button uses (one event,
``federation.unlinked``, actor ``admin:<sub>``)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import LiveServer
from tests.e2e.test_admin_api import Admin, admin, problem  # noqa: F401 (fixture)
from tests.e2e.test_console_user_unlink import events, link, linked, new_user

API_USERS = "/users"


def test_identities_are_listed_by_provider(server: LiveServer, admin: Admin) -> None:  # noqa: F811
    user = new_user(server)
    provider = link(server, user.id)
    answer = admin.http.get(f"{API_USERS}/{user.id}/identities")
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert item["provider"] == provider and item["subject"] == "sub 123/x"
    assert item["email"] == "up@example.com" and isinstance(item["created_at"], int)


@pytest.mark.parametrize("subject", ["plain", "sub 123/x", "auth0|abc/def"])
def test_an_identity_is_unlinked_and_audited(
    server: LiveServer,
    admin: Admin,  # noqa: F811
    subject: str,
) -> None:
    user = new_user(server)
    provider = link(server, user.id, subject)
    path = f"{API_USERS}/{user.id}/identities/{quote(provider, safe='')}/{quote(subject, safe='')}"
    assert admin.http.delete(path).status_code == 204
    assert linked(server, user.id) == []
    (event,) = [e for e in events(server, user.id) if e.type == "federation.unlinked"]
    assert event.actor == f"admin:{admin.client_id}"
    assert event.details == {"provider": provider, "subject": subject}
    problem(admin.http.delete(path), 404)


def test_unknown_user_or_identity_is_404(server: LiveServer, admin: Admin) -> None:  # noqa: F811
    problem(admin.http.get(f"{API_USERS}/nobody/identities"), 404)
    user = new_user(server)
    problem(admin.http.delete(f"{API_USERS}/{user.id}/identities/idp/nobody"), 404)
