"""The first administrator and an admin client, so a fresh install can be driven by API."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from ostiary.domain.access import AccessError
from ostiary.domain.users import User
from ostiary.oauth.registration import ClientSpec, register
from ostiary.services import Services

ADMIN_ROLE = "admin"
ADMIN_SCOPE = "ostiary:admin"
ADMIN_READ_SCOPE = "ostiary:admin:read"
# The narrower roles of the admin console (admin/console/permissions.py says what each may
# do); with ADMIN_ROLE they are never deleted.
USER_ADMIN_ROLE = "user-admin"
AUDITOR_ROLE = "auditor"
CONSOLE_ROLES = (ADMIN_ROLE, USER_ADMIN_ROLE, AUDITOR_ROLE)
# The admin console's own client (admin/console/setup.py): built in, never changed by hand.
CONSOLE_CLIENT_ID = "ostiary-console"


class BootstrapError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    user: User
    client_id: str
    client_secret: str


async def ensure_admin_model(services: Services) -> None:
    """The admin role, the console's narrower roles, and the two admin scopes, gated by the
    admin role (idempotent)."""
    access = services.store.access
    for role, text in (
        (ADMIN_ROLE, "administers Ostiary"),
        (USER_ADMIN_ROLE, "manages users, groups and their sessions in the admin console"),
        (AUDITOR_ROLE, "reads everything in the admin console and exports the audit log"),
    ):
        if await access.get_role(role) is None:
            # Another node or command may make it first.
            with contextlib.suppress(AccessError):
                await access.create_role(role, text)
    for scope, text in (
        (ADMIN_SCOPE, "read and change everything through the admin API"),
        (ADMIN_READ_SCOPE, "read everything through the admin API"),
    ):
        try:
            await access.create_scope(scope, description=text, required_roles=[ADMIN_ROLE])
        except AccessError:
            await access.set_scope_roles(scope, [ADMIN_ROLE])


async def bootstrap(
    services: Services, username: str, password: str, *, actor: str = "system"
) -> Bootstrapped:
    """Create the admin user (with the admin role) and a confidential admin client.

    The client uses client_credentials with both admin scopes; its secret is returned
    once. Refuses to run twice for the same username.
    """
    store = services.store
    if await store.users.by_username(username) is not None:
        raise BootstrapError(f"user {username!r} exists already")
    await ensure_admin_model(services)
    user = await store.users.add(
        username=username, email=None, password_hash=await services.passwords.hash(password)
    )
    await store.access.assign(user.id, ADMIN_ROLE)
    client, secret = await register(
        store.clients,
        ClientSpec(
            name="Ostiary admin API",
            redirect_uris=[],
            grant_types=["client_credentials"],
            scopes=[ADMIN_SCOPE, ADMIN_READ_SCOPE],
            # The admin API is a resource of the issuer itself (RFC 9068 §4 aud check),
            # whatever OSTIARY_TOKENS__DEFAULT_AUDIENCE says for other clients.
            audience=[services.settings.issuer],
        ),
    )
    assert secret is not None
    await services.audit.record(
        "admin.bootstrap",
        actor=actor,
        user_id=user.id,
        client_id=client.client_id,
        details={"username": username},
    )
    return Bootstrapped(user, client.client_id, secret)
