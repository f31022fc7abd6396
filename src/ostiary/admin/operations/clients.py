"""Client registrations: create, change, delete, a new secret, every token revoked.

The registration rules are ``oauth.registration``'s; here is what an administrator's
change adds to them: the audit event naming the admin, and the console's own client,
which no one changes or deletes from outside (it would lock every admin out).
"""

from __future__ import annotations

from dataclasses import replace

from ostiary.accounts import lifecycle
from ostiary.admin import paging
from ostiary.admin.auth import Caller
from ostiary.admin.bootstrap import CONSOLE_CLIENT_ID
from ostiary.admin.client_schemas import (
    ClientCreate,
    ClientOut,
    ClientPatch,
    require_mfa_change,
    spec_changes,
)
from ostiary.admin.problems import conflict, not_found, unprocessable
from ostiary.admin.resources import client_or_404, record, updated
from ostiary.crypto.tokens import CLIENT_SECRET_PREFIX, digest, new_secret
from ostiary.domain.clients import Client
from ostiary.oauth.registration import ClientSpec, RegistrationError, register, update
from ostiary.services import Services
from ostiary.storage.repos.clients import _row_to_client

BUILT_IN = frozenset({CONSOLE_CLIENT_ID})


def view(client: Client) -> ClientOut:
    return ClientOut.model_validate(client.public_view())


async def page(
    services: Services, *, cursor: str | None, limit: int
) -> tuple[list[ClientOut], str | None]:
    """One page of clients by client_id, and the cursor of the next (None on the last)."""
    rows, next_cursor = await paging.rows(
        services, "clients", "client_id", cursor=cursor, limit=limit
    )
    # The repository's row mapping, so a page reads like ``clients.get``.
    return [view(_row_to_client(r)) for r in rows], next_cursor


def is_built_in(client_id: str) -> bool:
    """The admin console's own client: the server keeps it in shape at every start."""
    return client_id in BUILT_IN


def _refuse_built_in(client_id: str) -> None:
    if is_built_in(client_id):
        raise conflict(
            f"client {client_id!r} is the admin console's own, kept by the server: "
            "changing or deleting it would lock every admin out"
        )


async def create(
    services: Services, caller: Caller, body: ClientCreate
) -> tuple[ClientOut, str | None]:
    """Register a client; a confidential client's secret is returned here only."""
    store = services.store
    if body.client_id is not None and await store.clients.get(body.client_id) is not None:
        raise conflict(f"client_id {body.client_id!r} is taken")
    blank = ClientSpec(name=body.client_name, redirect_uris=[], grant_types=[], scopes=[])
    try:
        client, secret = await register(
            store.clients, replace(blank, **spec_changes(body)), services.client_keys.seal_secret
        )
    except RegistrationError as exc:
        raise unprocessable(str(exc)) from None
    if require_mfa_change(body):
        client = await store.clients.update(client.client_id, require_mfa=True) or client
    out = view(client)
    await record(
        services,
        caller,
        "client.created",
        client_id=client.client_id,
        details={"after": out.model_dump()},
    )
    return out, secret


async def change(
    services: Services, caller: Caller, client_id: str, body: ClientPatch
) -> ClientOut:
    """Change a registration; the result is checked as a whole, as at creation. The audit
    event holds the changed members only, before and after."""
    before = view(await client_or_404(services, client_id))
    _refuse_built_in(client_id)
    changes, require_mfa = spec_changes(body), require_mfa_change(body)
    if "name" in changes and changes["name"] is None:
        raise unprocessable("client_name cannot be removed")
    try:
        # Only the registration's own members are checked again (not a policy change alone).
        if changes:
            await update(services.store.clients, client_id, **changes)
    except RegistrationError as exc:
        raise unprocessable(str(exc)) from None
    if require_mfa is not None:
        await services.store.clients.update(client_id, require_mfa=require_mfa)
    after = view(await client_or_404(services, client_id))
    old, new = before.model_dump(), after.model_dump()
    changed = sorted(k for k in new if old[k] != new[k])
    if changed:
        await updated(
            services,
            caller,
            "client.updated",
            {k: old[k] for k in changed},
            {k: new[k] for k in changed},
            client_id=client_id,
        )
    return after


async def delete(services: Services, caller: Caller, client_id: str) -> None:
    """Delete a client. Every token it holds dies first, and registering the same
    client_id again revives none (``accounts.lifecycle.delete_client``)."""
    _refuse_built_in(client_id)
    if not await lifecycle.delete_client(services, client_id, actor=caller.actor):
        raise not_found(f"client {client_id!r}")


async def revoke_tokens(services: Services, caller: Caller, client_id: str) -> int:
    """Revoke every token the client holds (RFC 7009 §2.1, for a whole client); the
    number of refresh tokens revoked."""
    await client_or_404(services, client_id)
    return await lifecycle.revoke_client_tokens(services, client_id, actor=caller.actor)


async def unlock(services: Services, caller: Caller, client_id: str) -> int:
    """Clear the client-authentication failure counters and locks, from every address."""
    await client_or_404(services, client_id)
    cleared = await services.throttle.unlock_client(client_id)
    await record(
        services, caller, "client.unlocked", client_id=client_id, details={"count": cleared}
    )
    return cleared


async def rotate_secret(services: Services, caller: Caller, client_id: str) -> str:
    """A new secret for a confidential client, returned here only; the old one stops
    working at once. Only its digest is stored, as at registration."""
    client = await client_or_404(services, client_id)
    if client.public:
        # RFC 6749 §2.1: a public client has no credentials to rotate.
        raise conflict(f"client {client_id!r} is public: it has no secret")
    secret = new_secret(CLIENT_SECRET_PREFIX)
    # client_secret_jwt checks an HMAC under the secret itself: kept sealed for it only.
    sealed = (
        services.client_keys.seal_secret(secret)
        if client.token_endpoint_auth_method == "client_secret_jwt"
        else None
    )
    changes = {"secret_hash": digest(secret), "secret_sealed": sealed}
    if await services.store.clients.update(client_id, **changes) is None:
        raise not_found(f"client {client_id!r}")
    await record(services, caller, "client.secret_rotated", client_id=client_id)
    return secret
