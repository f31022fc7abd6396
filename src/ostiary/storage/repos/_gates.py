"""Role gates of a row's scopes, read in the same statement as the row (no second read).

A refresh token or an authorization code carries its scopes as a JSON array; which of them
a role gates (``scope_roles``) is what the grant checks next. Reading the gates as a scalar
subquery of the token's own statement saves a round trip and stays exact: the gates are
read at the same moment as the token, not from a cache.
"""

from __future__ import annotations

from typing import Any

from ostiary.domain.access import Gates
from ostiary.storage.repos._driver import json_value
from ostiary.storage.repos.users import USER_COLUMNS


def gates_sql(scopes: str, *, postgresql: bool) -> str:
    """A scalar subquery: ``[[scope, role], ...]`` for the scopes in JSON column ``scopes``
    (a column name written in this package, never a value)."""
    if postgresql:
        pairs = "json_agg(json_build_array(sr.scope, sr.role))"
        names = f"SELECT json_array_elements_text({scopes})"
    else:
        pairs = "json_group_array(json_array(sr.scope, sr.role))"
        names = f"SELECT value FROM json_each({scopes})"  # noqa: S608
    return f"(SELECT {pairs} FROM scope_roles sr WHERE sr.scope IN ({names}))"  # noqa: S608


def parse_gates(value: Any) -> Gates:
    gates: dict[str, set[str]] = {}
    for scope, role in json_value(value) or []:
        gates.setdefault(scope, set()).add(role)
    return {scope: frozenset(roles) for scope, roles in gates.items()}


def state_sql(table: str, alias: str, columns: str, key: str, *, postgresql: bool) -> str:
    """One round trip for a grant's row (a refresh token, a code): its ``columns`` from
    ``table`` named ``alias``, its user's columns, its SSO session's end and its scopes'
    role gates; the row is the one whose ``key`` column is $1. Every argument is a
    constant of the calling module; the only value is the bound parameter.

    sessions.sid is indexed, not unique (a random value, so one row in practice): MAX keeps
    the session's end to one value."""
    return f"""
SELECT {columns}, {USER_COLUMNS},
       (SELECT MAX(s.expires_at) FROM sessions s WHERE s.sid = {alias}.sid),
       {gates_sql(f"{alias}.scopes", postgresql=postgresql)}
FROM {table} {alias} LEFT JOIN users u ON u.id = {alias}.user_id
WHERE {alias}.{key} = $1
"""  # noqa: S608
