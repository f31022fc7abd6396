"""Keyset pagination with opaque cursors: the last key of a page, tagged by list kind.

A cursor is not a secret and needs no signature: any value only moves the start of a
listing the caller may read anyway. It is opaque so the key can change without
breaking clients.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from fastapi import Query

from ostiary.admin.problems import Problem
from ostiary.services import Services
from ostiary.storage.queries import admin_views as queries

MAX_INT64 = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=200, description="Items per page (1 to 200).")]
Cursor = Annotated[
    str | None,
    Query(max_length=1024, description="`next_cursor` of the previous page."),
]


def encode(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).rstrip(b"=").decode()


def decode(kind: str, cursor: str | None) -> str | None:
    """The key after which the page starts, or None for the first page."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise _bad() from None
    tag, sep, key = raw.partition(":")
    if tag != kind or not sep or "\x00" in key:
        raise _bad()
    return key


async def rows(
    services: Services, kind: str, key: str, *, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page of the listing ``kind`` (its table's name) by its unique ``key`` column,
    and the cursor of the next page (None on the last)."""
    found, more = await queries.page(
        services.engine, kind, key, after=decode(kind, cursor), limit=limit
    )
    return found, encode(kind, getattr(found[-1], key)) if more else None


def decode_int(kind: str, cursor: str | None) -> int | None:
    key = decode(kind, cursor)
    if key is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", key) or int(key) > MAX_INT64:
        raise _bad()
    return int(key)


def _bad() -> Problem:
    return Problem(400, "cursor is not one this listing returned")
