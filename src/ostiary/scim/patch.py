"""PATCH (RFC 7644 §3.5.2): add, replace and remove with paths, value filters and the
shapes Entra ID and Okta send (see ``validation.POLICY``), applied by scim2-models."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Context, PatchOp, Resource, SCIMException

from ostiary.scim.errors import ScimError
from ostiary.scim.validation import ENTERPRISE, POLICY, fix_manager, from_exception

MAX_OPERATIONS = 1000


def _normalise(operation: Any, base: str) -> Any:
    if not isinstance(operation, dict):
        return operation
    value, path = operation.get("value"), operation.get("path")
    if isinstance(path, str) and path.lower() == f"{ENTERPRISE}:manager".lower():
        # Entra: {"op": "Add", "path": "...:manager", "value": "<id>"}.
        return {
            **operation,
            "value": fix_manager({ENTERPRISE: {"manager": value}}, base)[ENTERPRISE]["manager"],
        }
    if path is None and isinstance(value, dict):
        return {**operation, "value": fix_manager(value, base)}
    return operation


def apply_patch(resource: Resource[Any], body: Any, base: str) -> Resource[Any]:
    """The patched copy of ``resource``; the original is left alone."""
    if not isinstance(body, dict):
        raise ScimError(400, "the body must be a JSON object", "invalidSyntax")
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise ScimError(400, "Operations must be a non-empty list", "invalidSyntax")
    if len(operations) > MAX_OPERATIONS:
        raise ScimError(413, f"at most {MAX_OPERATIONS} operations per request")
    body = {**body, "Operations": [_normalise(op, base) for op in operations]}
    body.pop("operations", None)
    model = type(resource)
    try:
        patch = PatchOp[model].model_validate(  # type: ignore[valid-type]
            body, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=POLICY
        )
        patched = resource.model_copy(deep=True)
        patch.patch(patched, scim_policy=POLICY)
    except (ValidationError, SCIMException) as exc:
        raise from_exception(exc) from None
    return patched
