"""Bulk operations (RFC 7644 §3.7): many writes in one request, each with its own status.

Operations run in the order given; one that names ``bulkId:X`` (in its path or anywhere
in its data) waits until the POST carrying ``bulkId`` X has created its resource, so a
group may list users created later in the same request. A reference that never resolves
(unknown, failed, or circular) is a 409 for that operation (§3.7.1). ``failOnErrors``
stops the job after that many errors (§3.7.3). Limits (§3.7.4) are advertised in
ServiceProviderConfig and enforced with a 413.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ostiary.scim import operations
from ostiary.scim.errors import ScimError, invalid_syntax, invalid_value
from ostiary.scim.listing import INT64_MAX
from ostiary.scim.resource_type import REGISTRY
from ostiary.services import Services

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
MAX_OPERATIONS = 1000
METHODS = ("POST", "PUT", "PATCH", "DELETE")
_REFERENCE = re.compile(r"^bulkId:(.+)$")


@dataclass
class Operation:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any


def _operation(index: int, raw: Any) -> Operation:
    if not isinstance(raw, dict):
        raise invalid_syntax(f"Operations[{index}] must be an object")
    method = raw.get("method")
    path = raw.get("path")
    bulk_id = raw.get("bulkId")
    version = raw.get("version")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise invalid_syntax(f"Operations[{index}].method must be one of {', '.join(METHODS)}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid_syntax(f"Operations[{index}].path must be a path such as /Users")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        raise invalid_syntax(f"Operations[{index}].bulkId must be a non-empty string")
    if version is not None and not isinstance(version, str):
        raise invalid_syntax(f"Operations[{index}].version must be a string")
    # RFC 7644 §3.7: bulkId is REQUIRED with POST, so its result can be referred to.
    if method.upper() == "POST" and bulk_id is None:
        raise invalid_syntax(f"Operations[{index}]: a POST needs a bulkId")
    return Operation(index, method.upper(), path, bulk_id, version, raw.get("data"))


def parse(body: Any) -> tuple[list[Operation], int | None]:
    """The operations and ``failOnErrors``; a malformed request is refused whole."""
    if not isinstance(body, dict) or BULK_REQUEST not in (body.get("schemas") or []):
        raise invalid_syntax(f"a bulk request is an object with schemas [{BULK_REQUEST!r}]")
    raw = body.get("Operations")
    if not isinstance(raw, list) or not raw:
        raise invalid_syntax("Operations must be a non-empty list")
    if len(raw) > MAX_OPERATIONS:
        # RFC 7644 §3.7.4: more than maxOperations is 413.
        raise ScimError(413, f"at most {MAX_OPERATIONS} operations per bulk request", "tooLarge")
    fail_on = body.get("failOnErrors")
    if fail_on is not None and (not isinstance(fail_on, int) or isinstance(fail_on, bool)):
        raise invalid_value("failOnErrors must be an integer")
    # RFC 7644 §3.7.3: failOnErrors is a positive integer; one no 64-bit integer holds
    # is refused like any other out-of-range number.
    if fail_on is not None and not 1 <= fail_on <= INT64_MAX:
        raise invalid_value(f"failOnErrors must be between 1 and {INT64_MAX}")
    ops = [_operation(i, item) for i, item in enumerate(raw)]
    ids = [op.bulk_id for op in ops if op.bulk_id is not None]
    if len(ids) != len(set(ids)):
        raise invalid_value("each bulkId must be unique within the request")
    return ops, fail_on


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        matched = _REFERENCE.match(value)
        return {matched.group(1)} if matched else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    return set()


def _resolve(value: Any, created: dict[str, str]) -> Any:
    if isinstance(value, str):
        matched = _REFERENCE.match(value)
        return created[matched.group(1)] if matched else value
    if isinstance(value, list):
        return [_resolve(v, created) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, created) for k, v in value.items()}
    return value


def _path_references(path: str) -> set[str]:
    return {part[len("bulkId:") :] for part in path.split("/") if part.startswith("bulkId:")}


def _resolve_path(path: str, created: dict[str, str]) -> str:
    return "/".join(
        created[p[len("bulkId:") :]] if p.startswith("bulkId:") else p for p in path.split("/")
    )


def _failure(op: Operation, error: ScimError) -> dict[str, Any]:
    result: dict[str, Any] = {"method": op.method, "status": str(error.status)}
    if op.bulk_id is not None:
        result["bulkId"] = op.bulk_id
    result["response"] = error.body()
    return result


class BulkJob:
    def __init__(self, services: Services, base: str, actor: str) -> None:
        self.services = services
        self.base = base
        self.actor = actor
        self.created: dict[str, str] = {}
        self.errors = 0
        self.posts: dict[str, Operation] = {}
        self.results: dict[int, dict[str, Any]] = {}

    async def run(self, ops: list[Operation], fail_on: int | None) -> list[dict[str, Any]]:
        """In request order; an operation naming ``bulkId:X`` first runs the POST that
        creates X (RFC 7644 §3.7.2), so a later DELETE cannot overtake it."""
        self.posts = {op.bulk_id: op for op in ops if op.bulk_id and op.method == "POST"}
        for op in ops:
            # RFC 7644 §3.7.3: stop once failOnErrors errors have happened.
            if fail_on is not None and self.errors >= fail_on:
                break
            await self._visit(op, frozenset(), fail_on)
        return [self.results[i] for i in sorted(self.results)]

    async def _visit(self, op: Operation, waiting: frozenset[int], fail_on: int | None) -> None:
        if op.index in self.results:
            return
        for ref in sorted(_references(op.data) | _path_references(op.path)):
            if ref in self.created:
                continue
            post = self.posts.get(ref)
            # Unknown, circular (already waiting on this one) or already failed.
            if post is None or post.index in waiting or post.index in self.results:
                self.results[op.index] = self._unresolved(op, ref)
                return
            await self._visit(post, waiting | {op.index}, fail_on)
            if fail_on is not None and self.errors >= fail_on:
                return
            if ref not in self.created:
                self.results[op.index] = self._unresolved(op, ref)
                return
        self.results[op.index] = await self._one(op)

    def _unresolved(self, op: Operation, ref: str) -> dict[str, Any]:
        """RFC 7644 §3.7.1: a reference that cannot be resolved (unknown, failed or
        circular) is a 409 for that operation."""
        self.errors += 1
        detail = f"bulkId {ref!r} names no resource created in this request"
        return _failure(op, ScimError(409, detail, "invalidValue"))

    async def _one(self, op: Operation) -> dict[str, Any]:
        try:
            return await self._execute(op)
        except ScimError as error:
            self.errors += 1
            return _failure(op, error)

    async def _execute(self, op: Operation) -> dict[str, Any]:
        path = _resolve_path(op.path, self.created)
        data = _resolve(op.data, self.created)
        parts = [p for p in path.split("/") if p]
        kind = REGISTRY.get(parts[0]) if parts else None
        if kind is None or len(parts) > 2:
            raise ScimError(404, f"no resource at {op.path}")
        target = operations.Target(self.services, self.base, kind, self.actor)
        result: dict[str, Any] = {"method": op.method}
        if op.bulk_id is not None:
            result["bulkId"] = op.bulk_id
        if op.method == "POST":
            if len(parts) != 1:
                raise ScimError(404, f"POST goes to /{parts[0]}")
            created = await operations.create(target, data)
            assert op.bulk_id is not None
            self.created[op.bulk_id] = created.id
            return {**result, **_written(created.body), "status": "201"}
        if len(parts) != 2:
            raise ScimError(405, f"{op.method} needs a resource path such as /{parts[0]}/<id>")
        ident = parts[1]
        if op.method == "DELETE":
            await operations.delete(target, ident, op.version)
            return {**result, "location": f"{self.base}/{parts[0]}/{ident}", "status": "204"}
        if op.method == "PUT":
            written = await operations.replace(target, ident, data, op.version)
        else:
            patched = await operations.patch(target, ident, data, op.version)
            written = patched or await operations.load(target, ident, kind.lazy)
        return {**result, **_written(written.body), "status": "200"}


def _written(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["meta"]
    return {"location": meta["location"], "version": meta["version"]}


def response(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [BULK_RESPONSE], "Operations": results}
