"""Resource versions and conditional requests (RFC 7644 §3.14, RFC 9110 §13.1).

``meta.version`` is ``W/"<counter>-<fingerprint>"``. The counter lives in the SCIM row
and every SCIM write bumps it with a conditional UPDATE (``... AND version = :read``), so
of two writers holding the same version exactly one succeeds. The fingerprint is a digest
of what other doors (admin API, command line) may change without touching the counter,
so their changes give a new ETag too. Neither needs a group's member list.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ostiary.scim.errors import ScimError


def fingerprint(content: Any) -> str:
    # surrogatepass: a value stored before lone surrogates were refused still has a version.
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    encoded = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(encoded).hexdigest()[:16]


def etag(counter: int, content: Any) -> str:
    return f'W/"{counter}-{fingerprint(content)}"'


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _opaque(tag: str) -> str:
    # RFC 9110 §8.8.3.2: If-Match uses strong comparison, but a SCIM client sends back
    # the weak tag it was given; comparing the opaque part is what every provider does.
    return tag[2:] if tag.startswith("W/") else tag


def stale() -> ScimError:
    return ScimError(412, "the resource changed since the version given in If-Match")


def check_if_match(header: str | None, version: str) -> None:
    """RFC 7644 §3.14: a stale If-Match is 412 Precondition Failed."""
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags:
        return
    if _opaque(version) not in {_opaque(t) for t in tags}:
        raise stale()


def not_modified(header: str | None, version: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match on GET answers 304 when a tag still matches."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or _opaque(version) in {_opaque(t) for t in tags}
