"""What the console needs in the database: its client and the console roles. Run at every
start while the console is on; each step is idempotent and safe when nodes start at once."""

from __future__ import annotations

import contextlib
import logging

from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID, ensure_admin_model
from ostiary.admin.console.permissions import AUDITOR_ROLE, USER_ADMIN_ROLE
from ostiary.admin.console.signin import callback_uri, signed_out_uri
from ostiary.domain.access import AccessError
from ostiary.oauth.registration import ClientSpec, RegistrationError, register, update
from ostiary.services import Services

log = logging.getLogger("ostiary.admin.console")

ROLES = (
    (USER_ADMIN_ROLE, "manages users, groups and their sessions in the admin console"),
    (AUDITOR_ROLE, "reads everything in the admin console and exports the audit log"),
)


def console_spec(services: Services) -> ClientSpec:
    return ClientSpec(
        client_id=CONSOLE_CLIENT_ID,
        name="Ostiary admin console",
        public=True,
        # The console is part of this server: its users are never asked to consent to it.
        first_party=True,
        redirect_uris=[callback_uri(services)],
        post_logout_redirect_uris=[signed_out_uri(services)],
        grant_types=["authorization_code"],
        scopes=["openid"],
    )


async def ensure(services: Services) -> None:
    await ensure_admin_model(services)
    access = services.store.access
    for name, description in ROLES:
        if await access.get_role(name) is None:
            # Another node may make it first.
            with contextlib.suppress(AccessError):
                await access.create_role(name, description)
    spec = console_spec(services)
    client = await services.store.clients.get(CONSOLE_CLIENT_ID)
    if client is None:
        try:
            await register(services.store.clients, spec)
            log.info("registered the admin console's client %s", CONSOLE_CLIENT_ID)
        except RegistrationError:
            if await services.store.clients.get(CONSOLE_CLIENT_ID) is None:
                raise
        return
    # The issuer moved (a new host name): the console follows it.
    if list(client.redirect_uris) != spec.redirect_uris:
        await update(
            services.store.clients,
            CONSOLE_CLIENT_ID,
            redirect_uris=spec.redirect_uris,
            post_logout_redirect_uris=spec.post_logout_redirect_uris,
        )
