"""Which SCIM attributes map to which SQL columns: what filters and sortBy may name.

An attribute absent from a resource type's catalogue lives only in the stored JSON
representation; filtering or sorting on it is a 400 ``invalidFilter`` / ``invalidValue``
rather than a wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, func

from ostiary.storage.tables import (
    group_members,
    group_parents,
    groups,
    scim_user_emails,
    scim_user_phones,
    scim_users,
    users,
)

# What a search carries to the repository: a condition and an order, opaque outside storage.
Condition = ColumnElement[bool]
Ordering = ColumnElement[Any]

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


def _entries(table: Any) -> Source:
    return Source(
        table,
        table.c.user_id,
        {
            "value": Attr(table.c.value_ci),
            "type": Attr(table.c.type),
            "primary": Attr(table.c.primary, "boolean"),
        },
    )


def user_catalogue(schemas: frozenset[str]) -> Catalogue:
    """RFC 7643 §4.1 User attributes over ``users``, ``scim_users`` and the entry tables."""
    return Catalogue(
        key=users.c.id,
        schemas=schemas,
        singles={
            "id": Attr(users.c.id, case_exact=True),
            "username": Attr(scim_users.c.user_name_ci),
            "externalid": Attr(scim_users.c.external_id, case_exact=True),
            "displayname": Attr(scim_users.c.display_name_ci),
            "name.givenname": Attr(scim_users.c.given_name_ci),
            "name.familyname": Attr(scim_users.c.family_name_ci),
            "active": Attr(users.c.disabled, "boolean", negated=True),
            "meta.created": Attr(users.c.created_at, "datetime"),
            "meta.lastmodified": Attr(users.c.updated_at, "datetime"),
        },
        multi={
            "emails": MultiValued((_entries(scim_user_emails),)),
            "phonenumbers": MultiValued((_entries(scim_user_phones),)),
        },
    )


def group_catalogue(schemas: frozenset[str]) -> Catalogue:
    """RFC 7643 §4.2 Group attributes over ``groups`` and its member tables."""
    return Catalogue(
        key=groups.c.id,
        schemas=schemas,
        singles={
            "id": Attr(groups.c.id, case_exact=True),
            # Groups are few next to users: a lowercased comparison without an index.
            "displayname": Attr(func.lower(groups.c.name)),
            "externalid": Attr(groups.c.external_id, case_exact=True),
            "meta.created": Attr(groups.c.created_at, "datetime"),
            "meta.lastmodified": Attr(groups.c.updated_at, "datetime"),
        },
        multi={
            "members": MultiValued(
                (
                    Source(
                        group_members,
                        group_members.c.group_id,
                        {"value": Attr(group_members.c.user_id, case_exact=True)},
                    ),
                    Source(
                        group_parents,
                        group_parents.c.parent_id,
                        {"value": Attr(group_parents.c.child_id, case_exact=True)},
                    ),
                )
            )
        },
    )
