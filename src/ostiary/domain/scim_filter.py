"""A parsed SCIM filter (RFC 7644 §3.4.2.2): what ``scim.filters`` parses and
``storage.scim_filter_sql`` turns into SQL. Names are lowercased; a schema URN, if any,
is kept apart."""

from __future__ import annotations

from dataclasses import dataclass

Value = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class AttrPath:
    """``[urn:...:]attr[.sub]``, lowercased; ``schema`` is the URN as sent, if any."""

    attr: str
    sub: str | None = None
    schema: str | None = None

    def dotted(self) -> str:
        return f"{self.attr}.{self.sub}" if self.sub else self.attr


@dataclass(frozen=True, slots=True)
class Compare:
    path: AttrPath
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Present:
    path: AttrPath


@dataclass(frozen=True, slots=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True, slots=True)
class Not:
    inner: Filter


@dataclass(frozen=True, slots=True)
class ValuePath:
    """``attr[filter]``: true when one entry of ``attr`` satisfies ``filter``."""

    path: AttrPath
    filter: Filter


Filter = Compare | Present | And | Or | Not | ValuePath
