"""Roles, groups and scopes: who may be granted what (RBAC)."""

from __future__ import annotations

from dataclasses import dataclass

# The deepest nesting the admin API lets one build; lookups here follow any depth.
MAX_GROUP_DEPTH = 16


class AccessError(ValueError):
    """A name that exists already, or one that does not exist."""


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    description: str
    created_at: int
    # MFA policy: whoever holds the role, directly or through a group, needs a second factor.
    require_mfa: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    external_id: str | None
    created_at: int
    updated_at: int
    # MFA policy: members, and members of its subgroups, need a second factor.
    require_mfa: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    description: str
    required_roles: tuple[str, ...]
    created_at: int


@dataclass(frozen=True, slots=True)
class Effective:
    """A user's roles (direct and through groups) and groups (direct and ancestors)."""

    roles: frozenset[str]
    groups: frozenset[str]


Gates = dict[str, frozenset[str]]
