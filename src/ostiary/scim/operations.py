"""The SCIM write operations without HTTP: POST (RFC 7644 §3.3), PUT (§3.5.1), PATCH
(§3.5.2) and DELETE (§3.6), each with ``If-Match`` made atomic (§3.14). The endpoints
(``writes``) and Bulk (``bulk``, §3.7) both run them.

A write reads the current version, checks ``If-Match`` against it, and writes with a
conditional UPDATE on the version counter it read. If another writer got there first the
UPDATE touches no row: with ``If-Match`` that is a 412, without it the operation simply
runs again on the new version (so two PATCHes never lose each other's change).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import Context

from ostiary.scim.errors import ScimError, not_found
from ostiary.scim.etags import check_if_match, stale
from ostiary.scim.patch import apply_patch
from ostiary.scim.resource_type import Loaded, ResourceType
from ostiary.scim.validation import from_exception, keep_read_only, read_resource
from ostiary.services import Services
from ostiary.storage.repos.scim_groups import VersionConflict

# Without If-Match, a writer that lost the race runs again on the new version; of n
# writers racing one of them wins each round, so n rounds suffice.
ATTEMPTS = 12


@dataclass(frozen=True, slots=True)
class Target:
    services: Services
    base: str
    kind: ResourceType
    actor: str


async def load(target: Target, ident: str, skip: frozenset[str] = frozenset()) -> Loaded:
    found = await target.kind.get(target.services, target.base, ident, skip)
    if found is None:
        raise not_found(target.kind.name, ident)
    return found


async def conditional(
    target: Target,
    ident: str,
    skip: frozenset[str],
    if_match: str | None,
    write: Callable[[Loaded], Awaitable[Any]],
) -> Any:
    """RFC 7644 §3.14: run ``write`` against the version ``If-Match`` names, atomically."""
    for _ in range(ATTEMPTS):
        before = await load(target, ident, skip)
        check_if_match(if_match, before.version)
        try:
            return await write(before)
        except VersionConflict:
            if if_match is not None:
                raise stale() from None
            # Spread the retries so the same writers do not collide again at once.
            await asyncio.sleep(random.uniform(0, 0.005))  # noqa: S311  (jitter, not a secret)
    raise ScimError(409, "the resource kept changing during the request; try again")


def model_of(kind: ResourceType, loaded: Loaded) -> Any:
    """The stored resource as a model. A value stored under an older rule that the
    schema refuses is a clear 400 naming the value, never a 500 (email addresses are any
    text to the model, see ``user_records.StoredEmail``)."""
    try:
        return kind.model.model_validate(loaded.body, scim_ctx=None)
    except ValidationError as exc:
        error = from_exception(exc)
        detail = f"the stored {kind.name} holds a value SCIM refuses: {error.detail}"
        raise ScimError(400, detail, "invalidValue") from None


async def create(target: Target, payload: Any) -> Loaded:
    resource = read_resource(
        target.kind.model, payload, Context.RESOURCE_CREATION_REQUEST, target.base
    )
    return await target.kind.create(target.services, target.base, resource, target.actor)


async def replace(target: Target, ident: str, payload: Any, if_match: str | None) -> Loaded:
    kind = target.kind

    async def write(before: Loaded) -> Loaded:
        after = read_resource(
            kind.model, payload, Context.RESOURCE_REPLACEMENT_REQUEST, target.base
        )
        # RFC 7644 §3.5.1: readOnly values are kept; a changed immutable value is a 400.
        keep_read_only(after, model_of(kind, before))
        return await kind.replace(target.services, target.base, before, after, target.actor)

    result: Loaded = await conditional(target, ident, frozenset(), if_match, write)
    return result


async def patch(target: Target, ident: str, payload: Any, if_match: str | None) -> Loaded | None:
    """The patched resource, or None when the type applied the operations as row changes
    (Group members) without loading the resource."""
    kind = target.kind

    async def write(before: Loaded) -> Loaded | None:
        if await kind.patch(target.services, target.base, before, payload, target.actor):
            return None
        full = before if not kind.lazy else await load(target, ident)
        if full.counter != before.counter or full.version != before.version:
            raise VersionConflict(before.id)
        patched = apply_patch(model_of(kind, full), payload, target.base)
        patched.id = full.id
        return await kind.replace(target.services, target.base, full, patched, target.actor)

    result: Loaded | None = await conditional(target, ident, kind.lazy, if_match, write)
    return result


async def delete(target: Target, ident: str, if_match: str | None) -> None:
    async def write(before: Loaded) -> None:
        await target.kind.delete(target.services, before, target.actor)

    await conditional(target, ident, target.kind.lazy, if_match, write)
