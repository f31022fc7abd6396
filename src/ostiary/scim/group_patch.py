"""PATCH on a Group as row changes (RFC 7644 §3.5.2), for the shapes directories send:
member add / remove / replace, by list or by ``members[value eq "..."]``, and renames.

A 10,000-member group is patched without reading its members. Anything else (or anything
odd) returns None and takes the generic path: load, patch with scim2-models, replace.
"""

from __future__ import annotations

import re
from typing import Any

from ostiary.domain import identifiers
from ostiary.scim.errors import ScimError, invalid_value
from ostiary.storage.repos.scim_groups import MemberChanges

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_MEMBER_FILTER = re.compile(r'^members\[\s*value\s+eq\s+"([^"\\]*)"\s*\]$', re.IGNORECASE)


class _Plan:
    def __init__(self) -> None:
        self.changes = MemberChanges()
        self.added: set[str] = set()

    def add(self, ids: set[str]) -> None:
        self.added |= ids
        self.changes.remove -= ids

    def remove(self, ids: set[str]) -> None:
        self.changes.remove |= ids
        self.added -= ids

    def clear(self) -> None:
        self.changes.clear = True
        self.changes.remove = set()
        self.added = set()

    def name(self, value: Any) -> bool:
        if not isinstance(value, str):
            raise invalid_value("displayName is required")
        try:
            identifiers.group_name(value, "displayName")
        except identifiers.InvalidIdentifier as exc:
            raise invalid_value(str(exc)) from None
        self.changes.name = value
        return True

    def external_id(self, value: Any) -> bool:
        if value is not None and not isinstance(value, str):
            return False
        if value is not None and len(value) > 200:
            raise invalid_value("externalId is at most 200 characters")
        self.changes.external_id = value
        self.changes.set_external_id = True
        return True


def _ids(value: Any) -> set[str] | None:
    items = value if isinstance(value, list) else [value]
    ids = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            return None
        if set(item) - {"value", "display", "$ref", "type"}:
            return None
        ids.add(item["value"])
    return ids


def _step(plan: _Plan, op: str, path: str | None, value: Any, own_id: str) -> bool:
    lowered = path.lower() if path is not None else None
    if lowered is None:
        if op not in ("add", "replace") or not isinstance(value, dict):
            return False
        return all(_step(plan, op, key, item, own_id) for key, item in value.items())
    if lowered == "id":
        return op in ("add", "replace") and value == own_id
    if lowered == "displayname":
        return op in ("add", "replace") and plan.name(value)
    if lowered == "externalid":
        return plan.external_id(None if op == "remove" else value)
    if lowered == "members":
        if op == "remove" and value is None:
            plan.clear()
            return True
        ids = _ids(value)
        if ids is None:
            return False
        if op == "remove":
            # Entra ID names the members to remove in "value".
            plan.remove(ids)
        else:
            if op == "replace":
                plan.clear()
            plan.add(ids)
        return True
    matched = _MEMBER_FILTER.match(path or "")
    if matched and op == "remove" and value is None:
        plan.remove({matched.group(1)})
        return True
    return False


def plan(body: Any, own_id: str) -> tuple[MemberChanges, set[str]] | None:
    """The changes and the ids to add (users or groups, not yet told apart), or None."""
    if not isinstance(body, dict) or PATCH_OP not in (body.get("schemas") or []):
        return None
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        return None
    result = _Plan()
    for operation in operations:
        if not isinstance(operation, dict) or set(operation) - {"op", "path", "value"}:
            return None
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(op, str) or (path is not None and not isinstance(path, str)):
            return None
        if not _step(result, op.lower(), path, operation.get("value"), own_id):
            return None
    if own_id in result.added:
        raise invalid_value("a group cannot be a member of itself")
    return result.changes, result.added


def no_such_member(ident: str) -> ScimError:
    return invalid_value(f"no user or group {ident!r}")
