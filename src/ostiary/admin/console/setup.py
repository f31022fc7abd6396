"""What the console needs in the database: its client (and, on the way, the console
roles). Made at the first sign-in to the console, not at every start: a server nobody
administers through a browser keeps no client it does not use. Idempotent, and safe when
nodes sign admins in at once."""

from __future__ import annotations

import logging

from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID, ensure_admin_model
from ostiary.oauth.registration import ClientSpec, RegistrationError, register, update
from ostiary.services import Services

log = logging.getLogger("ostiary.admin.console")


def callback_uri(services: Services) -> str:
    return services.settings.issuer + "/admin/callback"


def signed_out_uri(services: Services) -> str:
    return services.settings.issuer + "/admin/signed-out"


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
    """The console's client as this issuer needs it (one cached read when it is)."""
    spec = console_spec(services)
    client = await services.store.clients.get(CONSOLE_CLIENT_ID)
    if client is not None and list(client.redirect_uris) == spec.redirect_uris:
        return
    await ensure_admin_model(services)
    if client is None:
        try:
            await register(services.store.clients, spec)
            log.info("registered the admin console's client %s", CONSOLE_CLIENT_ID)
        except RegistrationError:
            if await services.store.clients.get(CONSOLE_CLIENT_ID) is None:
                raise
        return
    # The issuer moved (a new host name): the console follows it.
    await update(
        services.store.clients,
        CONSOLE_CLIENT_ID,
        redirect_uris=spec.redirect_uris,
        post_logout_redirect_uris=spec.post_logout_redirect_uris,
    )
