"""Reading request bodies with scim2-models; its complaints become SCIM errors (§3.12)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Resource, SCIMException, ScimPolicy

from ostiary.scim.errors import ScimError

# The deviations Microsoft Entra ID and Okta are known to send, accepted on purpose:
# a ``remove`` naming members in ``value`` (Entra), and a ``replace`` whose path filter
# matches no entry yet, e.g. ``emails[type eq "work"].value`` (Entra).
POLICY = ScimPolicy(
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_BODY = 1_048_576  # bulk.maxPayloadSize (RFC 7644 §3.7.4), enforced for every body


def from_exception(exc: Exception) -> ScimError:
    if isinstance(exc, SCIMException):
        return ScimError(exc.status, exc.detail, exc.scim_type or None)
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        kind = str(first.get("type", ""))
        location = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid value"))
        detail = f"{location}: {message}" if location else message
        ctx = first.get("ctx") or {}
        scim_type = ctx.get("scim_type") if isinstance(ctx, dict) else None
        if not scim_type and kind.startswith("scim_") and kind != "scim_error":
            scim_type = kind.removeprefix("scim_")
        if not scim_type:
            scim_type = (
                "invalidSyntax" if kind in ("extra_forbidden", "missing") else "invalidValue"
            )
        status = ctx.get("status", 400) if isinstance(ctx, dict) else 400
        return ScimError(int(status) if isinstance(status, int) else 400, detail, scim_type)
    raise exc


def fix_manager(payload: Any, base: str) -> Any:
    """Entra sends ``manager`` as the bare id; RFC 7643 §4.3 wants ``{value, $ref}``."""
    if not isinstance(payload, dict):
        return payload
    extension = payload.get(ENTERPRISE)
    if isinstance(extension, dict) and "manager" in extension:
        extension = {**extension, "manager": _manager(extension["manager"], base)}
        payload = {**payload, ENTERPRISE: extension}
    key = f"{ENTERPRISE}:manager"
    for name in list(payload):
        if name.lower() == key.lower():
            payload = {**payload, name: _manager(payload[name], base)}
    return payload


def _manager(value: Any, base: str) -> Any:
    if isinstance(value, str):
        value = {"value": value}
    if isinstance(value, dict) and value.get("value") and "$ref" not in value:
        value = {**value, "$ref": f"{base}/Users/{value['value']}"}
    return value


def read_resource(
    model: type[Resource[Any]], payload: Any, context: Context, base: str
) -> Resource[Any]:
    if not isinstance(payload, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    try:
        return model.model_validate(
            fix_manager(payload, base), scim_ctx=context, scim_policy=POLICY
        )
    except (ValidationError, SCIMException) as exc:
        raise from_exception(exc) from None


def keep_read_only(after: Resource[Any], before: Resource[Any]) -> None:
    try:
        after.replace(before)
    except (ValidationError, SCIMException) as exc:
        raise from_exception(exc) from None
    after.id = before.id
