"""Which SCIM attributes map to which SQL columns: what filters and sortBy may name.

An attribute absent from a resource type's catalogue lives only in the stored JSON
representation; filtering or sorting on it is a 400 ``invalidFilter`` / ``invalidValue``
rather than a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table

Kind = Literal["string", "boolean", "datetime"]


@dataclass(frozen=True, slots=True)
class Attr:
    """One filterable attribute. ``case_exact=False`` columns hold lowercased values."""

    column: ColumnElement[Any]
    kind: Kind = "string"
    case_exact: bool = False
    # ``active`` is stored as its opposite, ``users.disabled``.
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Source:
    """Rows of a child table holding entries of a multi-valued attribute."""

    table: Table
    owner: ColumnElement[Any]
    subs: dict[str, Attr]


@dataclass(frozen=True, slots=True)
class MultiValued:
    """A multi-valued attribute: true when one entry (row) satisfies the condition."""

    sources: tuple[Source, ...]
    default_sub: str = "value"


@dataclass(frozen=True, slots=True)
class Catalogue:
    key: ColumnElement[Any]
    schemas: frozenset[str]
    singles: dict[str, Attr] = field(default_factory=dict)
    multi: dict[str, MultiValued] = field(default_factory=dict)
