"""Resource versions and conditional requests (RFC 7644 §3.14, RFC 9110 §13.1).

The version is a digest of the representation itself, so a change made through any
door (SCIM, the admin API, the command line) gives a new ETag.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from scim2_models import Context, Resource

from ostiary.scim.errors import ScimError


def version_of(body: dict[str, Any]) -> str:
    """A weak ETag over a full representation, ``meta`` left out."""
    content = {k: v for k, v in body.items() if k != "meta"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def stamp(resource: Resource[Any]) -> dict[str, Any]:
    """Set ``meta.version``; returns the full representation it was computed over."""
    body = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    version = version_of(body)
    assert resource.meta is not None
    resource.meta.version = version
    body.setdefault("meta", {})["version"] = version
    return body


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _opaque(tag: str) -> str:
    # RFC 9110 §8.8.3.2: If-Match uses strong comparison, but a SCIM client sends back
    # the weak tag it was given; comparing the opaque part is what every provider does.
    return tag[2:] if tag.startswith("W/") else tag


def check_if_match(header: str | None, version: str) -> None:
    """RFC 7644 §3.14: a stale If-Match is 412 Precondition Failed."""
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags:
        return
    if _opaque(version) not in {_opaque(t) for t in tags}:
        raise ScimError(412, "the resource changed since the version given in If-Match")


def not_modified(header: str | None, version: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match on GET answers 304 when a tag still matches."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or _opaque(version) in {_opaque(t) for t in tags}
