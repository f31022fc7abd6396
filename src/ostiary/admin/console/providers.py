"""Console pages: upstream identity providers — list, add from a preset, change, delete.

Every change goes through ``admin.operations.providers`` with the admin API's own body
models. A provider's page shows the redirect URI to register at the provider, with a
Copy button; the client secret is write-only, as at the API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.console import client_form, provider_form, render
from ostiary.admin.console.forms import form_of
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area
from ostiary.admin.operations import providers
from ostiary.admin.problems import Problem, not_found
from ostiary.admin.provider_schemas import ProviderCreate, ProviderPatch
from ostiary.domain.federation import redirect_uri
from ostiary.federation.providers import PROVISIONING, TOKEN_AUTH_METHODS

MAX_NAME = 200


def _provider_path(name: str) -> str:
    return f"/admin/providers/{quote(name, safe='')}"


def _name(request: Request) -> str:
    name: str = request.path_params["name"]
    # No provider name holds NUL or a lone surrogate, which PostgreSQL cannot compare.
    if len(name) > MAX_NAME or not client_form.storable(name):
        raise not_found(f"provider {name[:MAX_NAME]!r}")
    return name


def _form_page(
    request: Request,
    viewer: Viewer,
    name: str,
    preset: provider_form.Preset,
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
        area=Area.PROVIDERS,
        status=status,
        preset=preset,
        values=values,
        errors=errors,
        provisioning=PROVISIONING,
        auth_methods=TOKEN_AUTH_METHODS,
        **context,
    )


def _preset_of(name: str) -> provider_form.Preset:
    preset = provider_form.preset_named(name)
    if preset is None:
        raise not_found(f"preset {name!r}")
    return preset


@console_page(Area.PROVIDERS)
async def list_providers(request: Request, viewer: Viewer) -> Response:
    """Every provider by name, and a way in for each preset."""
    return render.page(
        request,
        viewer,
        "providers.html",
        area=Area.PROVIDERS,
        items=await providers.listing(services_of(request)),
        presets=list(provider_form.PRESETS.values()),
    )


@console_page(Area.PROVIDERS, write=True)
async def new_provider(request: Request, viewer: Viewer) -> Response:
    """Add a provider from a preset (``?preset=google``): the form starts with the vendor's
    issuer and scopes, and says which redirect URI the provider will need."""
    services = services_of(request)
    preset = _preset_of(request.query_params.get("preset") or "oidc")
    issuer = services.settings.issuer
    context: dict[str, Any] = {"redirect_pattern": redirect_uri(issuer, "<name>")}
    if request.method == "GET":
        values = provider_form.new_values(preset)
        return _form_page(
            request, viewer, "provider_new.html", preset, values=values, errors={}, **context
        )
    form = await form_of(request)

    def refused(errors: dict[str, str]) -> Response:
        placed = provider_form.on_the_form(errors, preset, creating=True)
        values = provider_form.values_of(form)
        return _form_page(
            request,
            viewer,
            "provider_new.html",
            preset,
            values=values,
            errors=placed,
            status=422,
            **context,
        )

    try:
        body = ProviderCreate.model_validate(provider_form.body_of(form, preset))
    except ValidationError as exc:
        return refused(provider_form.validation_errors(exc))
    try:
        out = await providers.create(services, viewer.caller, body)
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        return refused(provider_form.problem_errors(problem.detail, form, creating=True))
    message = f"Provider {out.name} added. Register its redirect URI at the provider."
    return render.redirect(request, _provider_path(out.name), message)


@console_page(Area.PROVIDERS)
async def provider_page(request: Request, viewer: Viewer) -> Response:
    """One provider: the redirect URI to register, its settings (a form for those who may
    change them) and deletion."""
    services = services_of(request)
    out = await providers.get(services, _name(request))
    preset = provider_form.preset_named(out.preset) or provider_form.PRESETS["oidc"]
    context: dict[str, Any] = {"provider": out}
    if request.method == "GET":
        values = provider_form.values_from(out)
        return _form_page(
            request, viewer, "provider.html", preset, values=values, errors={}, **context
        )
    form = await form_of(request)

    def refused(errors: dict[str, str]) -> Response:
        placed = provider_form.on_the_form(errors, preset, creating=False)
        values = provider_form.values_of(form)
        return _form_page(
            request,
            viewer,
            "provider.html",
            preset,
            values=values,
            errors=placed,
            status=422,
            **context,
        )

    try:
        body = ProviderPatch.model_validate(provider_form.body_of(form, preset, current=out))
    except ValidationError as exc:
        return refused(provider_form.validation_errors(exc))
    try:
        await providers.change(services, viewer.caller, out.name, body)
    except Problem as problem:
        if problem.status != 422:
            raise
        return refused(provider_form.problem_errors(problem.detail, form, creating=False))
    return render.redirect(request, _provider_path(out.name), "Changes saved.")


@console_page(Area.PROVIDERS)
async def delete(request: Request, viewer: Viewer) -> Response:
    """The provider deleted, with the identities linked through it (the accounts stay)."""
    name = _name(request)
    await providers.delete(services_of(request), viewer.caller, name)
    message = f"Provider {name} deleted, with the identities linked through it."
    return render.redirect(request, "/admin/providers", message)


routes: list[BaseRoute] = [
    Route("/providers", list_providers, methods=["GET"]),
    Route("/providers/new", new_provider, methods=["GET", "POST"]),
    Route("/providers/{name}", provider_page, methods=["GET", "POST"]),
    Route("/providers/{name}/delete", delete, methods=["POST"]),
]
