"""The lowercased names of ``users.profile`` (OIDC Core §5.1 ``name``, ``given_name``,
``family_name``), as one expression the index and the search share.

An expression index is used only for a query holding the very same expression, and
both databases match it by structure, with constants as constants: SQLAlchemy's own
``profile["name"].as_string()`` sends the JSON path as a bound parameter (and wraps it
in a CAST), which neither planner can match to the index. This construct writes the key
as a literal, identically in ``CREATE INDEX`` and in ``SELECT``:

- SQLite: ``lower(json_extract(profile, '$.name'))`` (deterministic, so indexable);
- PostgreSQL: ``lower(profile ->> 'name')``.

Like ``ux_users_email_lower`` the index keeps the database's collation (a ``COLLATE "C"``
would be lost to Alembic's reflection, and the schema check would see a different index);
``user_search`` re-checks every match with ``substr``. ``lower()`` is the database's own:
ASCII letters only on SQLite, the collation's case mapping on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# The profile keys that are searched as names; each has an index.
NAME_KEYS = ("name", "given_name", "family_name")


class LowerProfileName(FunctionElement[str]):
    """``lower(<profile>.<key>)``; build it with ``lower_profile_name``."""

    type = String()
    name = "lower_profile_name"
    inherit_cache = True  # the key is a literal_column clause: part of the cache key


def lower_profile_name(profile: ColumnElement[Any], key: str) -> LowerProfileName:
    if key not in NAME_KEYS:
        raise ValueError(f"not a searchable profile name: {key!r}")
    return LowerProfileName(profile, literal_column(f"'{key}'"))


def _parts(element: LowerProfileName, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    profile, key = list(element.clauses)
    return compiler.process(profile, **kw), str(key.name)


@compiles(LowerProfileName, "sqlite")
def _sqlite(element: LowerProfileName, compiler: SQLCompiler, **kw: Any) -> str:
    profile, key = _parts(element, compiler, **kw)
    return f"lower(json_extract({profile}, '$.{key[1:-1]}'))"


@compiles(LowerProfileName, "postgresql")
def _postgresql(element: LowerProfileName, compiler: SQLCompiler, **kw: Any) -> str:
    profile, key = _parts(element, compiler, **kw)
    return f"lower({profile} ->> {key})"
