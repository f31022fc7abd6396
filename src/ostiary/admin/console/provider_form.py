"""The identity-provider form: presets, what was typed as the admin API's body, and
errors back next to their fields.

A preset here is only what the form starts with (the vendor's issuer, a hint, the
connector's options worth a field); the rules are the connector's (``federation
.connectors``), reached through ``admin.operations.providers`` like every other door.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ostiary.admin.console.client_form import lines, offending_line, placed
from ostiary.admin.console.forms import FORM, Form, Loc, field_errors
from ostiary.admin.provider_schemas import ProviderOut
from ostiary.federation.connectors import connector_for

FLAGS = ("enabled", "trust_email", "trust_mfa", "store_tokens")
# Connector options the form has a field for; any other option a provider holds (set
# through the API or the command line) is kept as it is.
OPTION_FIELDS = ("hosted_domain", "tenants", "api_base", "token_endpoint_auth_method")


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    label: str
    issuer: str = ""
    issuer_hint: str = "The provider's issuer URL (https), as its discovery document names it."
    options: tuple[str, ...] = ()
    console_hint: str = ""

    @property
    def scopes(self) -> str:
        return " ".join(connector_for(self.name).default_scopes)


PRESETS = {
    p.name: p
    for p in (
        Preset(
            "google",
            "Google",
            issuer="https://accounts.google.com",
            issuer_hint="Google's issuer; leave as it is.",
            options=("hosted_domain",),
            console_hint="Create an OAuth client ID (web application) in the Google Cloud "
            "console, under APIs & Services → Credentials.",
        ),
        Preset(
            "entra",
            "Microsoft Entra ID",
            issuer="https://login.microsoftonline.com/common/v2.0",
            issuer_hint="https://login.microsoftonline.com/<tenant id>/v2.0 for one tenant; "
            "common or organizations for several (then list the tenants allowed).",
            options=("tenants",),
            console_hint="Register an application in the Microsoft Entra admin center, "
            "under App registrations, with a Web platform.",
        ),
        Preset(
            "okta",
            "Okta",
            issuer_hint="Your Okta org (https://acme.okta.com) or a custom authorization "
            "server (https://acme.okta.com/oauth2/default).",
            console_hint="Create an OIDC web application in the Okta admin console.",
        ),
        Preset(
            "github",
            "GitHub",
            issuer="https://github.com",
            issuer_hint="https://github.com, or your GitHub Enterprise Server's address.",
            options=("api_base",),
            console_hint="Create an OAuth app under Settings → Developer settings.",
        ),
        Preset("oidc", "Any OpenID Provider", console_hint="Register a confidential web client."),
    )
}
# The names people look for, beside the connectors' own.
ALIASES = {"microsoft": "entra", "azure": "entra"}


def preset_named(name: str) -> Preset | None:
    return PRESETS.get(ALIASES.get(name, name))


def values_of(form: Form) -> dict[str, Any]:
    """What was typed, to show the form again as it was (never the secret)."""
    names = ("name", "display_name", "issuer", "client_id", "scopes", "provisioning", "mapping")
    values: dict[str, Any] = {n: form.get(n) or "" for n in (*names, *OPTION_FIELDS)}
    values |= {n: n in form for n in (*FLAGS, "remove_secret")}
    return values


def values_from(provider: ProviderOut) -> dict[str, Any]:
    options = provider.options
    values: dict[str, Any] = {
        "name": provider.name,
        "display_name": provider.display_name,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": " ".join(provider.scopes),
        "provisioning": provider.provisioning,
        "mapping": "\n".join(provider.mapping),
        "hosted_domain": options.get("hosted_domain") or "",
        "tenants": "\n".join(options.get("tenants") or []),
        "api_base": options.get("api_base") or "",
        "token_endpoint_auth_method": options.get("token_endpoint_auth_method") or "",
    }
    values |= {n: getattr(provider, n) for n in FLAGS}
    return values


def new_values(preset: Preset) -> dict[str, Any]:
    return {"issuer": preset.issuer, "scopes": preset.scopes, "enabled": True}


def _options(form: Form, preset: Preset, current: dict[str, Any]) -> dict[str, Any]:
    options = {k: v for k, v in current.items() if k not in OPTION_FIELDS}
    for name in preset.options:
        value: Any = lines(form.get(name)) if name == "tenants" else form.text(name)
        if value:
            options[name] = value
    method = form.text("token_endpoint_auth_method")
    if method:
        options["token_endpoint_auth_method"] = method
    return options


def body_of(form: Form, preset: Preset, *, current: ProviderOut | None = None) -> dict[str, Any]:
    """The admin API body (``ProviderCreate`` or, with ``current``, ``ProviderPatch``)."""
    body: dict[str, Any] = {
        "display_name": form.text("display_name") or None,
        "issuer": form.text("issuer"),
        "client_id": form.text("client_id"),
        "scopes": form.text("scopes").split(),
        "provisioning": form.text("provisioning") or None,
        "mapping": lines(form.get("mapping")),
        "options": _options(form, preset, current.options if current else {}),
    }
    body |= {n: n in form for n in FLAGS}
    secret = form.get("client_secret") or ""
    if current is None:
        body |= {"name": form.text("name"), "preset": preset.name}
        body["client_secret"] = secret or None
    elif "remove_secret" in form:
        body["client_secret"] = None
    elif secret:
        body["client_secret"] = secret
    return body


def _shown(preset: Preset, *, creating: bool) -> set[str]:
    """The fields the form has for this preset (``provider_fields.html``)."""
    fields = {"_form", "display_name", "issuer", "client_id", "client_secret", "scopes"}
    fields |= {"token_endpoint_auth_method", "provisioning", "mapping", *FLAGS, *preset.options}
    fields.add("name" if creating else "remove_secret")
    return fields


def on_the_form(errors: dict[str, str], preset: Preset, *, creating: bool) -> dict[str, str]:
    """Errors next to their fields; those about a field this form lacks (an option set
    through the API, say) above it."""
    return placed(errors, set(errors) - _shown(preset, creating=creating))


def validation_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's errors next to their fields (a preset's option at its own field); a
    mapping rule's or a tenant's names its line."""

    def place(loc: Loc) -> str:
        if len(loc) > 1 and loc[0] == "options":
            return str(loc[1])
        return str(loc[0]) if loc else FORM

    def line(name: str, loc: Loc, message: str) -> str:
        if name in ("mapping", "tenants") and len(loc) > 1 and isinstance(loc[-1], int):
            return f"Line {loc[-1] + 1}: {message}"
        return message

    return field_errors(exc, place=place, note=line)


def problem_errors(detail: str, form: Form, *, creating: bool) -> dict[str, str]:
    """A connector's or the mapping's refusal next to its field: ``what: why`` messages
    name the field; a rule's names the rule, which we turn into its line."""
    field, sep, why = detail.partition(": ")
    field = field.removeprefix("options.")
    if field == "scope":
        field = "scopes"
    known = {"name", "display_name", "issuer", "client_id", "scopes", "provisioning"}
    if sep and field in known | set(OPTION_FIELDS):
        if field == "name" and not creating:
            return {"_form": detail}
        return {field: why[:1].upper() + why[1:]}
    if "exists already" in detail and creating:
        return {"name": detail[:1].upper() + detail[1:]}
    if "rule" in detail or " at character " in detail:
        number = offending_line(form.get("mapping") or "", detail)
        prefix = f"Line {number}: " if number else ""
        return {"mapping": prefix + detail[:1].upper() + detail[1:]}
    return {"_form": detail[:1].upper() + detail[1:]}
