"""The client form: what was typed, as the admin API's body, and its errors by field.

The console builds the API's own pydantic models (``ClientCreate``, ``ClientPatch``) from
the form, so a field has one rule wherever a client is registered; this module only
translates: lines of a textarea to a list, a blank lifetime to the default, and an error
back to the field (and the line) it is about.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ostiary.admin.client_schemas import ClientOut
from ostiary.admin.console.forms import Form, Loc, field_errors
from ostiary.domain.clients import SECURITY_FIELDS
from ostiary.keys.algorithms import SUPPORTED
from ostiary.oauth.client_auth.registry import METHODS
from ostiary.oauth.grants.registry import GRANTS

URI_FIELDS = ("redirect_uris", "post_logout_redirect_uris", "audience")
TTL_FIELDS = ("access_token_ttl", "refresh_token_ttl", "id_token_ttl")
FLAGS = (
    "first_party",
    "include_roles",
    "include_groups",
    "require_mfa",
    "session_refresh_tokens",
    "backchannel_logout_session_required",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "require_signed_request_object",
    "tls_client_certificate_bound_access_tokens",
)
# Blank means the default (null in the API).
OPTIONAL_TEXT = (
    "backchannel_logout_uri",
    "id_token_signed_response_alg",
    "jwks_uri",
    "token_endpoint_auth_signing_alg",
    "request_object_signing_alg",
    "profile",
    "tls_client_auth_subject_dn",
)
# Client security, under "Client security", opened when one of them has an error.
SECURITY = SECURITY_FIELDS
# Under "More settings", opened when one of them has an error.
ADVANCED = (
    "audience",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "id_token_signed_response_alg",
    "session_refresh_tokens",
)
ID_TOKEN_ALGS = SUPPORTED
GRANT_TYPES = sorted(GRANTS)
# Every method a confidential client may register (the registry's, "none" aside), so a
# client's own method is always among the choices and a save never changes it.
AUTH_METHODS = tuple(m for m in METHODS if m != "none")
PROFILES = ("fapi2",)

# A registration rule's message (``oauth.registration``) -> the field it is about; the
# first prefix that matches wins, so the longer prefix of a pair comes first.
_MESSAGE_FIELDS = (
    ("post-logout redirect URI", "post_logout_redirect_uris"),
    ("redirect URI", "redirect_uris"),
    ("the authorization_code grant needs", "redirect_uris"),
    ("unsupported grant", "grant_types"),
    ("refresh_token is only", "grant_types"),
    ("a public client cannot use", "grant_types"),
    ("scope", "scope"),
    ("a public client authenticates", "token_endpoint_auth_method"),
    ("auth method", "token_endpoint_auth_method"),
    ("jwks_uri", "jwks_uri"),
    ("jwks", "jwks"),
    ("give jwks or jwks_uri", "jwks"),
    ("private_key_jwt needs", "jwks"),
    ("signed request objects need", "jwks"),
    ("token_endpoint_auth_signing_alg", "token_endpoint_auth_signing_alg"),
    ("request_object_signing_alg", "request_object_signing_alg"),
    ("a fapi2 client", "profile"),
    ("tls_client_auth_subject_dn", "tls_client_auth_subject_dn"),
    ("tls_client_auth needs", "tls_client_auth_subject_dn"),
    ("self_signed_tls_client_auth needs", "jwks"),
    ("profile is", "profile"),
    ("client_id", "client_id"),
    ("back-channel logout URI", "backchannel_logout_uri"),
    ("id_token_signed_response_alg", "id_token_signed_response_alg"),
    ("access-token lifetime", "access_token_ttl"),
    ("ID-token lifetime", "id_token_ttl"),
    ("name must not", "client_name"),
    ("client_name", "client_name"),
)


def storable(text: str) -> bool:
    """Text the database can hold and compare: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lines(text: str | None) -> list[str]:
    """A textarea, one value a line; blank lines do not count."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def values_of(form: Form) -> dict[str, Any]:
    """What was typed, to show the form again as it was."""
    values: dict[str, Any] = {
        name: form.get(name) or ""
        for name in ("client_name", "client_id", "scope", "token_endpoint_auth_method")
    }
    values |= {name: form.get(name) or "" for name in OPTIONAL_TEXT}
    values |= {name: form.get(name) or "" for name in (*URI_FIELDS, *TTL_FIELDS, "jwks")}
    values |= {name: name in form for name in (*FLAGS, "public")}
    values["grant_types"] = form.getlist("grant_types")
    return values


def values_from(client: ClientOut) -> dict[str, Any]:
    """A registration as the form shows it."""
    values: dict[str, Any] = {
        "client_name": client.client_name,
        "client_id": client.client_id,
        "public": client.public,
        "scope": client.scope,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
    }
    values |= {name: getattr(client, name) or "" for name in OPTIONAL_TEXT}
    values |= {name: "\n".join(getattr(client, name)) for name in URI_FIELDS}
    values |= {
        name: "" if getattr(client, name) is None else str(getattr(client, name))
        for name in TTL_FIELDS
    }
    values |= {name: getattr(client, name) for name in FLAGS}
    values["jwks"] = json.dumps(client.jwks, indent=2) if client.jwks is not None else ""
    return values


def body_of(form: Form, *, creating: bool, public: bool = False) -> dict[str, Any]:
    """The admin API body for this form: every member the console edits is sent, so an
    emptied field goes back to its default (a blank lifetime, no URIs)."""
    body: dict[str, Any] = {
        "client_name": form.text("client_name"),
        "grant_types": form.getlist("grant_types"),
        "scope": form.text("scope"),
    }
    body |= {name: lines(form.get(name)) for name in URI_FIELDS}
    # Left as typed: the model says what a lifetime may be ("abc" is its error, not ours).
    body |= {name: form.text(name) or None for name in (*TTL_FIELDS, *OPTIONAL_TEXT)}
    body |= {name: name in form for name in FLAGS}
    body["jwks"] = _json_or_text(form.text("jwks"))
    if creating:
        body["client_id"] = form.text("client_id") or None
        body["public"] = public = "public" in form
    if not public:
        # Blank: the default method (client_secret_basic), or "none" for a public client.
        body["token_endpoint_auth_method"] = form.text("token_endpoint_auth_method") or None
    return body


def _json_or_text(text: str) -> Any:
    """A JWK Set typed as JSON; text that is not JSON goes on as it is, for the model to
    refuse next to the field (blank: none)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def validation_errors(exc: ValidationError, form: Form) -> dict[str, str]:
    """Pydantic's errors next to their fields; a URI's names its line."""

    def line(name: str, loc: Loc, message: str) -> str:
        if name in URI_FIELDS and len(loc) > 1 and isinstance(loc[1], int):
            return f"Line {_line_number(form.get(name) or '', loc[1])}: {message}"
        return message

    return field_errors(exc, note=line)


def placed(errors: dict[str, str], hidden: set[str]) -> dict[str, str]:
    """Errors about a field this form does not show go above the form, named, so none is
    lost."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        if name in hidden:
            out.setdefault("_form", f"{name}: {message}")
        else:
            out[name] = message
    return out


def _line_number(text: str, index: int) -> int:
    """The textarea line of the ``index``-th value (blank lines were not sent on)."""
    numbers = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return numbers[index] if index < len(numbers) else index + 1


def problem_errors(detail: str, form: Form) -> dict[str, str]:
    """A registration rule's refusal next to the field it is about; for a URI, its line."""
    name = next((f for prefix, f in _MESSAGE_FIELDS if detail.startswith(prefix)), "_form")
    message = detail.replace("--redirect-uri", "redirect URI")
    if name in URI_FIELDS:
        number = offending_line(form.get(name) or "", detail)
        if number is not None:
            message = f"Line {number}: {message}"
    return {name: message[0].upper() + message[1:]}


def offending_line(text: str, detail: str) -> int | None:
    """The line of a textarea the message quotes (``oauth.registration`` names the value
    with repr), counted as the person sees the textarea."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and repr(line.strip()) in detail:
            return number
    return None
