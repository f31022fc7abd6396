"""The SCIM write endpoints: POST (RFC 7644 §3.3), PUT (§3.5.1), PATCH (§3.5.2) and
DELETE (§3.6), each with ``If-Match`` made atomic (§3.14).

A write reads the current version, checks ``If-Match`` against it, and writes with a
conditional UPDATE on the version counter it read. If another writer got there first the
UPDATE touches no row: with ``If-Match`` that is a 412, without it the request is simply
run again on the new version (so two PATCHes never lose each other's change).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from scim2_models import Context
from starlette.requests import Request
from starlette.responses import Response

from ostiary.scim.errors import ScimError
from ostiary.scim.etags import check_if_match, stale
from ostiary.scim.patch import apply_patch
from ostiary.scim.request_parts import (
    base_url,
    body_of,
    current,
    kind_of,
    query_of,
    services_of,
    single,
    skip_for,
)
from ostiary.scim.resource_type import Loaded, ResourceType
from ostiary.scim.validation import from_exception, keep_read_only, read_resource
from ostiary.storage.repos.scim_groups import VersionConflict

# Without If-Match, a writer that lost the race runs again on the new version; of n
# writers racing one of them wins each round, so n rounds suffice.
ATTEMPTS = 12


async def conditional(
    request: Request,
    kind: ResourceType,
    skip: frozenset[str],
    write: Callable[[Loaded], Awaitable[Any]],
) -> Any:
    """RFC 7644 §3.14: run ``write`` against the version ``If-Match`` names, atomically."""
    if_match = request.headers.get("if-match")
    for _ in range(ATTEMPTS):
        before = await current(request, kind, skip)
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
    """The stored resource as a model. An account made through another door may hold a
    value the SCIM schema refuses (an address at a special-use domain such as ``.test``):
    that is a clear 400 naming the value, never a 500."""
    try:
        return kind.model.model_validate(loaded.body, scim_ctx=None)
    except ValidationError as exc:
        error = from_exception(exc)
        detail = f"the stored {kind.name} holds a value SCIM refuses: {error.detail}"
        raise ScimError(400, detail, "invalidValue") from None


async def create(request: Request) -> Response:
    """RFC 7644 §3.3: POST /{type}; 201 with Location and ETag, 409 uniqueness."""
    kind = kind_of(request)
    services = services_of(request)
    base = base_url(services)
    resource = read_resource(
        kind.model, await body_of(request), Context.RESOURCE_CREATION_REQUEST, base
    )
    created = await kind.create(services, base, resource, request.scope["scim.actor"])
    return single(request, kind, created, 201)


async def replace(request: Request) -> Response:
    """RFC 7644 §3.5.1: PUT replaces; readOnly attributes are ignored."""
    kind = kind_of(request)
    services = services_of(request)
    base = base_url(services)
    payload = await body_of(request)

    async def write(before: Loaded) -> Loaded:
        after = read_resource(kind.model, payload, Context.RESOURCE_REPLACEMENT_REQUEST, base)
        # RFC 7644 §3.5.1: readOnly values are kept; a changed immutable value is a 400.
        keep_read_only(after, model_of(kind, before))
        return await kind.replace(services, base, before, after, request.scope["scim.actor"])

    return single(request, kind, await conditional(request, kind, frozenset(), write))


async def patch(request: Request) -> Response:
    """RFC 7644 §3.5.2: PATCH with add / replace / remove operations.

    A type that can apply the operations as row changes (Group members) does so without
    loading the resource, and answers 204 with the new ETag unless ``attributes`` or
    ``excludedAttributes`` ask for a body; otherwise 200 with the patched resource."""
    kind = kind_of(request)
    services = services_of(request)
    base = base_url(services)
    actor = request.scope["scim.actor"]
    payload = await body_of(request)

    async def write(before: Loaded) -> Loaded | None:
        if await kind.patch(services, base, before, payload, actor):
            return None
        full = before if not kind.lazy else await current(request, kind)
        if full.counter != before.counter or full.version != before.version:
            raise VersionConflict(before.id)
        patched = apply_patch(model_of(kind, full), payload, base)
        patched.id = full.id
        return await kind.replace(services, base, full, patched, actor)

    done = await conditional(request, kind, kind.lazy, write)
    if done is not None:
        return single(request, kind, done)
    query = query_of(request)
    if query.attributes or query.excluded_attributes:
        return single(request, kind, await current(request, kind, skip_for(request, kind)))
    after = await current(request, kind, kind.lazy)
    return Response(status_code=204, headers={"ETag": after.version, "Cache-Control": "no-store"})


async def delete(request: Request) -> Response:
    """RFC 7644 §3.6: DELETE answers 204; a user's sessions and tokens die with it."""
    kind = kind_of(request)
    services = services_of(request)

    async def write(before: Loaded) -> None:
        await kind.delete(services, before, request.scope["scim.actor"])

    await conditional(request, kind, kind.lazy, write)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
