"""Console pages: clients — list, register, change, new secret, revoke tokens, delete.

Every change goes through ``admin.operations.clients``, as the admin API's do, with the
API's own body models built from the form. A confidential client's secret is shown once,
on the page the create or rotate form leads to (``client_secret_once``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.client_schemas import ClientCreate, ClientPatch
from ostiary.admin.console import client_form, client_secret_once, render
from ostiary.admin.console.forms import form_of
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area
from ostiary.admin.operations import clients
from ostiary.admin.problems import Problem, not_found
from ostiary.admin.resources import client_or_404

PAGE_SIZE = 50
MAX_CURSOR = 1024
MAX_ID = 200
# Fixed at registration: the change form has no field for them.
_NOT_EDITED = {"client_id", "public"}


def _client_id(request: Request) -> str:
    """The client_id the path names. PostgreSQL cannot compare text holding NUL or a lone
    surrogate, and no client_id has either (nor passes 64 characters): not found."""
    client_id: str = request.path_params["client_id"]
    if len(client_id) > MAX_ID or not client_form.storable(client_id):
        raise not_found(f"client {client_id[:MAX_ID]!r}")
    return client_id


def _client_path(client_id: str) -> str:
    return f"/admin/clients/{quote(client_id, safe='')}"


def _form_page(
    request: Request,
    viewer: Viewer,
    name: str,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    **context: Any,
) -> Response:
    return render.page(
        request,
        viewer,
        name,
        area=Area.CLIENTS,
        status=status,
        values=values,
        errors=errors,
        grant_types=client_form.GRANT_TYPES,
        auth_methods=client_form.AUTH_METHODS,
        id_token_algs=client_form.ID_TOKEN_ALGS,
        advanced_fields=client_form.ADVANCED,
        security_fields=client_form.SECURITY,
        profiles=client_form.PROFILES,
        **context,
    )


@console_page(Area.CLIENTS)
async def list_clients(request: Request, viewer: Viewer) -> Response:
    """Registered clients by client_id, a page at a time."""
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR:
        raise Problem(400, "This page link is not valid.")
    items, next_cursor = await clients.page(services_of(request), cursor=cursor, limit=PAGE_SIZE)
    next_url = None
    if next_cursor:
        next_url = f"{render.base_path(request)}/admin/clients?cursor={quote(next_cursor)}"
    return render.page(
        request,
        viewer,
        "clients.html",
        area=Area.CLIENTS,
        items=items,
        built_in=clients.BUILT_IN,
        next_url=next_url,
    )


@console_page(Area.CLIENTS, write=True)
async def new_client(request: Request, viewer: Viewer) -> Response:
    """The registration form (GET needs write access: it is only good for changing)."""
    if request.method == "GET":
        return _form_page(request, viewer, "client_new.html", values={"grant_types": []}, errors={})
    form = await form_of(request)
    values = client_form.values_of(form)
    try:
        body = ClientCreate.model_validate(client_form.body_of(form, creating=True))
    except ValidationError as exc:
        errors = client_form.validation_errors(exc, form)
        return _form_page(
            request, viewer, "client_new.html", values=values, errors=errors, status=422
        )
    try:
        out, secret = await clients.create(services_of(request), viewer.caller, body)
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        errors = client_form.problem_errors(problem.detail, form)
        return _form_page(
            request, viewer, "client_new.html", values=values, errors=errors, status=422
        )
    message = f"Client {out.client_id} registered."
    response = render.redirect(request, _client_path(out.client_id), message)
    if secret is not None:
        client_secret_once.keep(request, response, viewer, out.client_id, secret)
    return response


@console_page(Area.CLIENTS)
async def client_page(request: Request, viewer: Viewer) -> Response:
    """One client: its registration (a form for those who may change it), its actions,
    and, right after registration or rotation only, its secret."""
    client_id = _client_id(request)
    services = services_of(request)
    if request.method == "POST":
        return await _update(request, viewer, client_id)
    out = clients.view(await client_or_404(services, client_id))
    secret = client_secret_once.take(request, viewer, client_id)
    response = _form_page(
        request,
        viewer,
        "client.html",
        client=out,
        built_in=clients.is_built_in(client_id),
        secret=secret,
        values=client_form.values_from(out),
        errors={},
    )
    if client_secret_once.waiting(request):
        client_secret_once.forget(request, response, client_id)
    return response


async def _update(request: Request, viewer: Viewer, client_id: str) -> Response:
    services = services_of(request)
    out = clients.view(await client_or_404(services, client_id))
    form = await form_of(request)
    context = {"client": out, "built_in": clients.is_built_in(client_id), "secret": None}
    values = client_form.values_of(form)
    values["public"] = out.public
    try:
        body = ClientPatch.model_validate(
            client_form.body_of(form, creating=False, public=out.public)
        )
    except ValidationError as exc:
        errors = client_form.placed(client_form.validation_errors(exc, form), _NOT_EDITED)
        return _form_page(
            request, viewer, "client.html", values=values, errors=errors, status=422, **context
        )
    try:
        await clients.change(services, viewer.caller, client_id, body)
    except Problem as problem:
        if problem.status != 422:
            raise
        errors = client_form.placed(client_form.problem_errors(problem.detail, form), _NOT_EDITED)
        return _form_page(
            request, viewer, "client.html", values=values, errors=errors, status=422, **context
        )
    return render.redirect(request, _client_path(client_id), "Changes saved.")


@console_page(Area.CLIENTS)
async def rotate_secret(request: Request, viewer: Viewer) -> Response:
    """A new secret (RFC 6749 §2.3.1), shown once on the page this leads to."""
    client_id = _client_id(request)
    secret = await clients.rotate_secret(services_of(request), viewer.caller, client_id)
    message = "New secret made: the old one no longer works."
    response = render.redirect(request, _client_path(client_id), message)
    client_secret_once.keep(request, response, viewer, client_id, secret)
    return response


@console_page(Area.CLIENTS)
async def revoke_tokens(request: Request, viewer: Viewer) -> Response:
    """Every token of the client revoked (RFC 7009 §2.1, for a whole client)."""
    client_id = _client_id(request)
    count = await clients.revoke_tokens(services_of(request), viewer.caller, client_id)
    message = (
        f"Revoked {count} refresh token(s); every access token issued to this client "
        "until now no longer works."
    )
    return render.redirect(request, _client_path(client_id), message)


@console_page(Area.CLIENTS)
async def unlock(request: Request, viewer: Viewer) -> Response:
    """The client's failed-authentication locks and counters cleared, from every address."""
    client_id = _client_id(request)
    count = await clients.unlock(services_of(request), viewer.caller, client_id)
    message = f"Cleared {count} failed-authentication lock(s) and counter(s)."
    return render.redirect(request, _client_path(client_id), message)


@console_page(Area.CLIENTS)
async def delete(request: Request, viewer: Viewer) -> Response:
    """The client deleted, its tokens first (``accounts.lifecycle.delete_client``)."""
    client_id = _client_id(request)
    await clients.delete(services_of(request), viewer.caller, client_id)
    return render.redirect(request, "/admin/clients", f"Client {client_id} deleted.")


routes: list[BaseRoute] = [
    Route("/clients", list_clients, methods=["GET"]),
    Route("/clients/new", new_client, methods=["GET", "POST"]),
    Route("/clients/{client_id}", client_page, methods=["GET", "POST"]),
    Route("/clients/{client_id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/clients/{client_id}/revoke-tokens", revoke_tokens, methods=["POST"]),
    Route("/clients/{client_id}/unlock", unlock, methods=["POST"]),
    Route("/clients/{client_id}/delete", delete, methods=["POST"]),
]
