"""Query parameters of a list or search (RFC 7644 §3.4.2, §3.4.3, §3.9)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ostiary.scim.errors import ScimError, invalid_value
from ostiary.scim.filters import invalid, parse_attr_path, parse_filter
from ostiary.storage.scim_catalogue import Catalogue, Condition, Ordering
from ostiary.storage.scim_filter_sql import Unfilterable, ordered, sort_column, to_sql

MAX_COUNT = 200  # advertised as filter.maxResults
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# ASCII digits only, and few enough that int() never meets Python's digit limit.
_DIGITS = re.compile(r"[+-]?[0-9]{1,30}")
# startIndex beyond this is refused: the OFFSET it becomes, plus a page, must fit 64 bits.
MAX_START_INDEX = INT64_MAX - MAX_COUNT


@dataclass(frozen=True, slots=True)
class ListQuery:
    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    attributes: list[str] | None = None
    excluded_attributes: list[str] | None = None

    def where(self, catalogue: Catalogue, dialect: str) -> Condition | None:
        if not self.filter:
            return None
        parsed = parse_filter(self.filter)
        try:
            return to_sql(parsed, catalogue, dialect)
        except Unfilterable as exc:
            raise invalid(str(exc)) from None

    def order_by(self, catalogue: Catalogue) -> list[Ordering]:
        if not self.sort_by:
            # RFC 7644 §3.4.2.3: without sortBy the order is the provider's; ours is stable.
            return []
        path = parse_attr_path(self.sort_by)
        if path.schema and path.schema.lower() not in catalogue.schemas:
            raise invalid_value(f"unknown schema {path.schema!r}")
        column = sort_column(catalogue, path)
        if column is None:
            raise invalid_value(f"cannot sort by {self.sort_by!r}")
        return [ordered(column, descending=self.descending)]


def integer(name: str, raw: Any, default: int) -> int:
    """An integer parameter, from a query string or a JSON body. One that a signed 64-bit
    integer cannot hold is refused (a SQL OFFSET or LIMIT could not carry it); so is a
    fraction, a boolean or anything else that is not a whole number."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise invalid_value(f"{name} must be an integer")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise invalid_value(f"{name} must be an integer")
        raw = int(raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()):
        value = int(raw.strip())
    else:
        raise invalid_value(f"{name} must be an integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise invalid_value(f"{name} must be between {INT64_MIN} and {INT64_MAX}")
    return value


def _names(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    names = raw if isinstance(raw, list) else str(raw).split(",")
    if not all(isinstance(n, str) for n in names):
        raise invalid_value("attribute names are strings")
    cleaned = [n.strip() for n in names if n.strip()]
    return cleaned or None


def list_query(params: Mapping[str, Any]) -> ListQuery:
    """From query parameters (GET) or a SearchRequest body (POST .search); names are
    matched case-insensitively, as clients differ in how they spell them."""
    lowered = {k.lower(): v for k, v in params.items()}
    order = lowered.get("sortorder")
    if order is not None and str(order).lower() not in ("ascending", "descending"):
        raise invalid_value("sortOrder is ascending or descending")
    text = lowered.get("filter")
    if text is not None and not isinstance(text, str):
        raise ScimError(400, "filter must be a string", "invalidFilter")
    sort_by = lowered.get("sortby")
    # RFC 7644 §3.4.2.4: startIndex below 1 is read as 1, a negative count as 0, and a
    # count above maxResults gives at most maxResults. A value no 64-bit integer holds
    # is a 400 invalidValue rather than a silent substitute the client did not ask for.
    start = max(1, integer("startIndex", lowered.get("startindex"), 1))
    if start > MAX_START_INDEX:
        raise invalid_value(f"startIndex must be at most {MAX_START_INDEX}")
    count = min(MAX_COUNT, max(0, integer("count", lowered.get("count"), 100)))
    query = ListQuery(
        filter=text or None,
        sort_by=str(sort_by) if sort_by else None,
        descending=str(order or "").lower() == "descending",
        start_index=start,
        count=count,
        attributes=_names(lowered.get("attributes")),
        excluded_attributes=_names(lowered.get("excludedattributes")),
    )
    if query.attributes and query.excluded_attributes:
        raise invalid_value("attributes and excludedAttributes are mutually exclusive")
    return query
