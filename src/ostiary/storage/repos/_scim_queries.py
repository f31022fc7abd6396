"""Statements the SCIM user and group repositories make alike: one page of a search with
its total, which of some ids exist (in slices under the drivers' parameter cap), and the
version check of a write (RFC 7644 §3.14)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import Column, ColumnElement, Select, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary.storage.repos._base import Repository

# SQLite and asyncpg cap the bound parameters of one statement near 32k: big member lists
# go in slices.
CHUNK = 1000


class VersionConflict(Exception):
    """The resource changed since the version the writer read (RFC 7644 §3.14)."""


async def bump_version(
    conn: AsyncConnection, table: Table, key: Column[Any], value: str, expected: int, **values: Any
) -> None:
    """Write ``values`` to the row whose ``key`` is ``value`` and move its version on, if
    the version is still ``expected``; else ``VersionConflict``. The check and the write
    are one conditional UPDATE: of two writers holding the same version, one wins."""
    claimed = await conn.execute(
        update(table)
        .where(key == value, table.c.version == expected)
        .values(**values, version=table.c.version + 1)
    )
    if claimed.rowcount != 1:
        raise VersionConflict(value)


def chunks(values: Sequence[str] | set[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + CHUNK] for i in range(0, len(ordered), CHUNK)]


async def search_page(
    engine: AsyncEngine,
    base: Select[Any],
    where: ColumnElement[bool] | None,
    order_by: Sequence[ColumnElement[Any]],
    offset: int,
    limit: int,
) -> tuple[int, list[str]]:
    """Total matches of ``base`` (which selects one column, the ids, and they break ties
    of ``order_by``) and one page of them; filter and order run in the database."""
    if where is not None:
        base = base.where(where)
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
        ids: list[str] = []
        if limit > 0:
            tiebreak = base.selected_columns[0]
            page = base.order_by(*order_by, tiebreak).offset(offset).limit(limit)
            ids = list((await conn.execute(page)).scalars())
    return total, ids


async def existing(engine: AsyncEngine, id_column: Column[Any], ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` are values of ``id_column``."""
    found: set[str] = set()
    async with engine.connect() as conn:
        for part in chunks(set(ids)):
            rows = await conn.execute(select(id_column).where(id_column.in_(part)))
            found.update(rows.scalars())
    return found


class ScimRepository(Repository):
    """A SCIM resource type's searches and existence checks, over its own id column."""

    # The resource's id column, and what a search selects (its ids) before the filter.
    id_column: ClassVar[Column[Any]]
    searched: ClassVar[Select[Any]]

    async def search(
        self,
        where: ColumnElement[bool] | None,
        order_by: Sequence[ColumnElement[Any]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[str]]:
        """Total matches and one page of ids; filter and order run in the database."""
        return await search_page(self._engine, self.searched, where, order_by, offset, limit)

    async def existing(self, ids: Sequence[str]) -> set[str]:
        return await existing(self._engine, self.id_column, ids)
