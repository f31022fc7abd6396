"""/clients: registrations (RFC 7591 metadata names), checked by ``oauth.registration``."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Request, Response

from ostiary.accounts import lifecycle
from ostiary.admin import paging
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.client_schemas import (
    ClientCreate,
    ClientCreated,
    ClientOut,
    ClientPatch,
    require_mfa_change,
    spec_changes,
)
from ostiary.admin.problems import conflict, documented, not_found, unprocessable
from ostiary.admin.resources import ClientIdPath, client_or_404, created, record, updated
from ostiary.admin.schemas import Count, Page
from ostiary.domain.clients import Client
from ostiary.oauth.registration import ClientSpec, RegistrationError, register, update
from ostiary.storage.repos.clients import _row_to_client

router = APIRouter(prefix="/clients", tags=["clients"])


def view(client: Client) -> ClientOut:
    return ClientOut.model_validate(client.public_view())


@router.get("", response_model=Page[ClientOut])
async def list_clients(
    services: ServicesDep, limit: paging.Limit = 50, cursor: paging.Cursor = None
) -> Page[ClientOut]:
    """Clients by client_id."""
    rows, next_cursor = await paging.rows(
        services, "clients", "client_id", cursor=cursor, limit=limit
    )
    items = [ClientOut.model_validate(_client_view(r)) for r in rows]
    return Page[ClientOut](items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ClientCreated, responses=documented(409))
async def create_client(
    body: ClientCreate,
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    response: Response,
) -> ClientCreated:
    """Register a client. A confidential client's secret is in this response only."""
    store = services.store
    if body.client_id is not None and await store.clients.get(body.client_id) is not None:
        raise conflict(f"client_id {body.client_id!r} is taken")
    blank = ClientSpec(name=body.client_name, redirect_uris=[], grant_types=[], scopes=[])
    try:
        client, secret = await register(store.clients, replace(blank, **spec_changes(body)))
    except RegistrationError as exc:
        raise unprocessable(str(exc)) from None
    if require_mfa_change(body):
        client = await store.clients.update(client.client_id, require_mfa=True) or client
    out = view(client)
    await created(
        services,
        caller,
        request,
        response,
        "client.created",
        out.model_dump(),
        "clients",
        client.client_id,
        client_id=client.client_id,
    )
    # The secret is shown once; no cache may keep it (RFC 7591 §3.2.1, RFC 6749 §5.1).
    response.headers["Cache-Control"] = "no-store"
    return ClientCreated(**out.model_dump(), client_secret=secret)


@router.get("/{client_id}", response_model=ClientOut, responses=documented(404))
async def get_client(client_id: ClientIdPath, services: ServicesDep) -> ClientOut:
    return view(await client_or_404(services, client_id))


@router.patch("/{client_id}", response_model=ClientOut, responses=documented(404))
async def update_client(
    client_id: ClientIdPath, body: ClientPatch, services: ServicesDep, caller: CallerDep
) -> ClientOut:
    """Change a registration; the result is checked as a whole, as at creation."""
    before = view(await client_or_404(services, client_id))
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
        before_changed = {k: old[k] for k in changed}
        after_changed = {k: new[k] for k in changed}
        await updated(
            services, caller, "client.updated", before_changed, after_changed, client_id=client_id
        )
    return after


@router.delete("/{client_id}", status_code=204, responses=documented(404))
async def delete_client(
    client_id: ClientIdPath, services: ServicesDep, caller: CallerDep
) -> Response:
    """Delete a client. Every token it holds dies first, and registering the same
    client_id again revives none (``accounts.lifecycle.delete_client``)."""
    if not await lifecycle.delete_client(services, client_id, actor=caller.actor):
        raise not_found(f"client {client_id!r}")
    return Response(status_code=204)


@router.post("/{client_id}/revoke-tokens", response_model=Count, responses=documented(404))
async def revoke_client_tokens(
    client_id: ClientIdPath, services: ServicesDep, caller: CallerDep
) -> Count:
    """Revoke every token the client holds: its refresh tokens, and every access token
    issued to it up to now (RFC 7009 §2.1, for a whole client). ``count`` is the number
    of refresh tokens revoked."""
    await client_or_404(services, client_id)
    count = await lifecycle.revoke_client_tokens(services, client_id, actor=caller.actor)
    return Count(count=count)


@router.post("/{client_id}/unlock", response_model=Count, responses=documented(404))
async def unlock_client(client_id: ClientIdPath, services: ServicesDep, caller: CallerDep) -> Count:
    """Clear the client-authentication failure counters and locks of the client, from every
    address."""
    await client_or_404(services, client_id)
    cleared = await services.throttle.unlock_client(client_id)
    await record(
        services, caller, "client.unlocked", client_id=client_id, details={"count": cleared}
    )
    return Count(count=cleared)


def _client_view(row: object) -> dict[str, object]:
    # The repository's row mapping, so a page reads like ``clients.get``.
    return _row_to_client(row).public_view()
