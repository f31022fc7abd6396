"""What a refused request must leave alone: row counts of the account tables and, in
full, the rows of the things a test watches (a user, a group, a client, a role...).

Taken in the server's own loop through its engine, so it reads exactly what the server
stored, on SQLite and PostgreSQL alike. Comparing two snapshots around a 4xx answer shows
that nothing was stored or changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, func, or_, select

from ostiary.services import Services
from ostiary.storage.tables import (
    clients,
    federated_identities,
    federation_providers,
    group_members,
    group_parents,
    group_roles,
    groups,
    roles,
    scim_groups,
    scim_user_emails,
    scim_user_phones,
    scim_users,
    scope_roles,
    scopes,
    user_roles,
    users,
)

TABLES: tuple[Table, ...] = (
    users,
    scim_users,
    scim_user_emails,
    scim_user_phones,
    groups,
    scim_groups,
    group_members,
    group_parents,
    group_roles,
    user_roles,
    roles,
    scopes,
    scope_roles,
    clients,
    federation_providers,
    federated_identities,
)
# Columns that name a watched thing, in whichever table has them.
_KEYS = (
    "id",
    "user_id",
    "group_id",
    "parent_id",
    "child_id",
    "client_id",
    "name",
    "role",
    "scope",
)

Snapshot = dict[str, Any]


async def snapshot(
    services: Services, watched: Iterable[str], rows_of: Iterable[Table] = TABLES
) -> Snapshot:
    """Counts of every table in ``TABLES``; the watched rows of those in ``rows_of``."""
    names = sorted(set(watched))
    state: Snapshot = {}
    async with services.engine.connect() as conn:
        counts = select(*(select(func.count()).select_from(t).scalar_subquery() for t in TABLES))
        state["counts"] = tuple((await conn.execute(counts)).one())
        for table in rows_of:
            keys = [table.c[k] for k in _KEYS if k in table.c and _textual(table.c[k])]
            if not keys or not names:
                continue
            found = await conn.execute(select(table).where(or_(*(k.in_(names) for k in keys))))
            state[table.name] = sorted(repr(tuple(row)) for row in found)
    return state


def _textual(column: Any) -> bool:
    try:
        return column.type.python_type is str
    except NotImplementedError:
        return False


def changes(before: Snapshot, after: Snapshot) -> dict[str, tuple[Any, Any]]:
    """What differs, by table, for an assertion message."""
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


class Unchanged:
    """Send requests and check each answer: never a 5xx, and after a 4xx the watched
    state is what it was before the request. The state seen after one 4xx is the state
    before the next request, so a run of refusals costs one snapshot each."""

    def __init__(
        self, server: Any, watched: Iterable[str], rows_of: Iterable[Table] = TABLES
    ) -> None:
        self._server = server
        self._watched = list(watched)
        self._rows_of = tuple(rows_of)
        self._last: Snapshot | None = None

    def _take(self) -> Snapshot:
        taken: Snapshot = self._server.call(lambda s: snapshot(s, self._watched, self._rows_of))
        return taken

    def __call__(self, send: Any) -> Any:
        before = self._last if self._last is not None else self._take()
        response = send()
        self._last = None
        assert response.status_code < 500, response.text
        if 400 <= response.status_code < 500:
            after = self._take()
            assert before == after, (response.status_code, response.text, changes(before, after))
            self._last = after
        return response
