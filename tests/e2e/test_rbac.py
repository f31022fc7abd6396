"""Role-gated scopes and roles/groups claims against the real server (docs/roles-and-scopes.md).

A scope registered with required roles is granted only to users holding one of them,
directly, through a group or through a parent of one of their groups; it is dropped, not
refused, when the user lacks it (RFC 6749 §3.3), and dropped again at the next refresh
once the role is gone (RFC 6749 §6 allows a narrower scope). Clients registered with
include_roles / include_groups receive ``roles`` / ``groups`` claims (RFC 9068 §2.2.3.1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from ostiary.domain.access import AccessError
from ostiary.services import Services
from tests.conftest import LiveServer, unique
from tests.e2e.helpers import (
    PASSWORD,
    RegisteredClient,
    authorize_params,
    browser,
    csrf_of,
    login_page,
    make_client,
    make_user,
    obtain_code,
    pkce_pair,
    redeem_code,
)


@dataclass(frozen=True)
class Gate:
    """A scope that only holders of one of ``roles`` may be granted."""

    scope: str
    roles: tuple[str, ...]

    @property
    def role(self) -> str:
        return self.roles[0]


def make_gate(server: LiveServer, roles: int = 1) -> Gate:
    gate = Gate(unique("payroll:read"), tuple(unique("payroll") for _ in range(roles)))

    async def create(services: Services) -> None:
        for role in gate.roles:
            await services.store.access.create_role(role)
        await services.store.access.create_scope(gate.scope, required_roles=gate.roles)

    server.call(create)
    return gate


async def user_id_of(services: Services, username: str) -> str:
    user = await services.store.users.by_username(username)
    assert user is not None
    return user.id


def grant_directly(server: LiveServer, username: str, role: str) -> None:
    async def work(services: Services) -> None:
        await services.store.access.assign(await user_id_of(services, username), role)

    server.call(work)


def grant_through_groups(server: LiveServer, username: str, role: str, depth: int) -> list[str]:
    """Member of a group ``depth`` levels below the group holding ``role``; the group names
    from the user's own group up."""
    names = [unique("grp") for _ in range(depth + 1)]

    async def work(services: Services) -> None:
        access = services.store.access
        groups = [await access.create_group(name) for name in names]
        await access.add_member(groups[0].id, await user_id_of(services, username))
        for child, parent in pairwise(groups):
            await access.nest(child.id, parent.id)
        await access.grant_group_role(groups[-1].id, role)

    server.call(work)
    return names


# -- talking to the server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def gate(server: LiveServer) -> Gate:
    return make_gate(server)


@pytest.fixture(scope="module")
def app(server: LiveServer, gate: Gate) -> RegisteredClient:
    return make_client(server, scopes=["read", gate.scope])


def claims_of(http: httpx.Client, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(http.get("/jwks.json").json())
    return dict(jwt.decode(token, keys).claims)


def tokens(
    server: LiveServer, http: httpx.Client, client: RegisteredClient, username: str, scope: str
) -> dict[str, Any]:
    """Sign in, consent to what the page shows, redeem the code."""
    response = redeem_code(http, client, *obtain_code(server, client, username, scope=scope))
    assert response.status_code == 200, response.text
    return response.json()


def refresh(
    http: httpx.Client, client: RegisteredClient, refresh_token: str, **extra: str
) -> httpx.Response:
    return http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        auth=client.basic_auth(),
    )


def consent_page(server: LiveServer, client: RegisteredClient, username: str, scope: str) -> str:
    _, challenge = pkce_pair()
    with browser(server) as web:
        location, page = login_page(web, authorize_params(client, challenge, scope=scope))
        web.post(
            f"{location}/login",
            data={"csrf": csrf_of(page.text), "username": username, "password": PASSWORD},
        )
        consent = web.get(location)
    assert 'name="decision"' in consent.text, consent.text
    return consent.text


def granted(scope: str) -> set[str]:
    return set(scope.split(" "))


def listed(scope: str, page: str) -> bool:
    return f"<code>{scope}</code>" in page


# -- scope gating -------------------------------------------------------------------------


def test_rfc6749_3_3_gated_scope_not_issued_without_the_role_though_asked_and_consented(
    server: LiveServer, http: httpx.Client, gate: Gate, app: RegisteredClient
) -> None:
    username = make_user(server)
    # The user consents to everything the page shows; the client asked for the gated scope.
    issued = tokens(server, http, app, username, f"read {gate.scope}")
    # RFC 6749 §5.1: the granted scope differs from the request, so it is in the response.
    assert issued["scope"] == "read"
    assert claims_of(http, issued["access_token"])["scope"] == "read"

    # Nor can a refresh ask for it: it was never granted (RFC 6749 §6).
    widened = refresh(http, app, issued["refresh_token"], scope=f"read {gate.scope}")
    assert widened.status_code == 400
    assert widened.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("holds_role", [False, True], ids=["without-role", "with-role"])
def test_consent_page_lists_only_the_scopes_the_user_may_be_granted(
    server: LiveServer, gate: Gate, app: RegisteredClient, holds_role: bool
) -> None:
    username = make_user(server)
    if holds_role:
        grant_directly(server, username, gate.role)
    page = consent_page(server, app, username, f"read {gate.scope}")
    assert listed("read", page)
    assert listed(gate.scope, page) is holds_role


@pytest.mark.parametrize(
    "how",
    ["direct", "group", "parent-group", "grandparent-group", "second-of-two-roles"],
)
def test_role_held_directly_through_a_group_or_a_parent_group_grants_the_scope(
    server: LiveServer, http: httpx.Client, how: str
) -> None:
    gate = make_gate(server, roles=2 if how == "second-of-two-roles" else 1)
    client = make_client(server, scopes=["read", gate.scope])
    username = make_user(server)
    if how == "direct":
        grant_directly(server, username, gate.role)
    elif how == "second-of-two-roles":
        # A scope with several required roles needs any one of them.
        grant_directly(server, username, gate.roles[1])
    else:
        depth = {"group": 0, "parent-group": 1, "grandparent-group": 2}[how]
        grant_through_groups(server, username, gate.role, depth)
    issued = tokens(server, http, client, username, f"read {gate.scope}")
    assert granted(issued["scope"]) == {"read", gate.scope}
    assert granted(claims_of(http, issued["access_token"])["scope"]) == {"read", gate.scope}


@pytest.mark.parametrize("lost", ["role-unassigned", "left-the-group"])
def test_rfc6749_6_next_refresh_drops_the_scope_once_the_role_is_gone(
    server: LiveServer, http: httpx.Client, gate: Gate, app: RegisteredClient, lost: str
) -> None:
    username = make_user(server)
    if lost == "role-unassigned":
        grant_directly(server, username, gate.role)
    else:
        [group] = grant_through_groups(server, username, gate.role, depth=0)
    issued = tokens(server, http, app, username, f"read {gate.scope}")
    assert granted(issued["scope"]) == {"read", gate.scope}

    async def take_away(services: Services) -> None:
        user_id = await user_id_of(services, username)
        if lost == "role-unassigned":
            assert await services.store.access.unassign(user_id, gate.role)
        else:
            found = await services.store.access.get_group(group)
            assert found is not None
            assert await services.store.access.remove_member(found.id, user_id)

    server.call(take_away)
    narrowed = refresh(http, app, issued["refresh_token"])
    assert narrowed.status_code == 200, narrowed.text
    body = narrowed.json()
    # RFC 6749 §6 / §5.1: a narrower scope than the original, stated in the response.
    assert body["scope"] == "read"
    assert claims_of(http, body["access_token"])["scope"] == "read"

    # The refresh token keeps the original grant: with the role back, so is the scope.
    grant_directly(server, username, gate.role)
    restored = refresh(http, app, body["refresh_token"])
    assert restored.status_code == 200, restored.text
    assert granted(restored.json()["scope"]) == {"read", gate.scope}


# -- roles and groups claims --------------------------------------------------------------


@pytest.mark.parametrize(
    ("include_roles", "include_groups"),
    [(True, True), (True, False), (False, True), (False, False)],
    ids=["roles-and-groups", "roles-only", "groups-only", "neither"],
)
def test_rfc9068_2_2_3_1_roles_and_groups_claims_only_for_clients_registered_for_them(
    server: LiveServer, http: httpx.Client, include_roles: bool, include_groups: bool
) -> None:
    client = make_client(
        server,
        scopes=["openid", "read"],
        include_roles=include_roles,
        include_groups=include_groups,
        session_refresh_tokens=True,
    )
    username = make_user(server)
    direct, inherited = unique("writer"), unique("reviewer")

    async def create_roles(services: Services) -> None:
        await services.store.access.create_role(direct)
        await services.store.access.create_role(inherited)

    server.call(create_roles)
    grant_directly(server, username, direct)
    groups = grant_through_groups(server, username, inherited, depth=1)
    expected: dict[str, list[str]] = {}
    if include_roles:
        expected["roles"] = sorted([direct, inherited])
    if include_groups:
        expected["groups"] = sorted(groups)

    issued = tokens(server, http, client, username, "openid read")
    refreshed = refresh(http, client, issued["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    for response in (issued, refreshed.json()):
        for kind in ("access_token", "id_token"):
            claims = claims_of(http, response[kind])
            found = {k: claims[k] for k in ("roles", "groups") if k in claims}
            assert found == expected, kind


def test_client_credentials_token_unaffected_by_roles(
    server: LiveServer, http: httpx.Client, gate: Gate
) -> None:
    """No user, no roles: the client gets what its registration allows (RFC 6749 §4.4)."""
    service = make_client(
        server,
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=[gate.scope],
        include_roles=True,
        include_groups=True,
    )
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": gate.scope},
        auth=service.basic_auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == gate.scope
    claims = claims_of(http, response.json()["access_token"])
    assert claims["sub"] == service.client_id
    assert claims["scope"] == gate.scope
    assert "roles" not in claims and "groups" not in claims


def test_a_role_that_gates_a_scope_cannot_be_deleted_so_the_scope_stays_closed(
    server: LiveServer, http: httpx.Client
) -> None:
    """Fail closed: a scope that lost its only role would be open to every user."""
    gate = make_gate(server)
    client = make_client(server, scopes=["read", gate.scope])
    username = make_user(server)

    async def delete_role(services: Services) -> bool:
        return await services.store.access.delete_role(gate.role)

    with pytest.raises(AccessError, match="gates scope"):
        server.call(delete_role)
    issued = tokens(server, http, client, username, f"read {gate.scope}")
    assert issued["scope"] == "read"


def test_code_issued_before_the_role_was_taken_grants_only_what_is_allowed_at_redemption(
    server: LiveServer, http: httpx.Client, gate: Gate, app: RegisteredClient
) -> None:
    username = make_user(server)
    grant_directly(server, username, gate.role)
    code, verifier, params = obtain_code(server, app, username, scope=f"read {gate.scope}")

    async def take_away(services: Services) -> None:
        await services.store.access.unassign(await user_id_of(services, username), gate.role)

    server.call(take_away)
    response = redeem_code(http, app, code, verifier, params)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read"


def test_rfc6749_4_1_3_a_scope_gated_after_the_code_was_issued_is_not_granted(
    server: LiveServer, http: httpx.Client
) -> None:
    """The code of a login is kept by the worker that issued it; a role gate
    put on one of its scopes before the client redeems it still applies: the redemption
    reads the gates and the user's roles again, and the ungranted scope is left out."""
    scope = unique("reports:read")
    role = unique("reports")

    async def open_scope(services: Services) -> None:
        await services.store.access.create_role(role)
        await services.store.access.create_scope(scope)

    server.call(open_scope)
    client = make_client(server, scopes=["read", scope], first_party=True)
    username = make_user(server)
    code, verifier, params = obtain_code(server, client, username, scope=f"read {scope}")

    async def gate(services: Services) -> None:
        await services.store.access.set_scope_roles(scope, [role])

    server.call(gate)
    response = redeem_code(http, client, code, verifier, params)
    assert response.status_code == 200, response.text
    assert granted(response.json()["scope"]) == {"read"}
