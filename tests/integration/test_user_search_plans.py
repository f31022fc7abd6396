"""The console's name search reads indexes only, on SQLite and PostgreSQL.

An expression index serves only a query holding the very same expression (a JSON path
sent as a parameter, or a stray CAST, and the planner falls back to reading every user),
so each candidate range of ``user_search.name_ranges`` is EXPLAINed as it is sent, with
its parameters, and its plan must name the index it was written for. On PostgreSQL the
sequential scan is switched off: a test database is small enough for the planner to
prefer one, and the question is whether the index *can* serve the query."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

from ostiary.storage.engine import create_engine
from ostiary.storage.queries.user_search import name_ranges

# The index each range is written for, in name_ranges' order, for a query whose
# SQLite key differs ("Émi": "émi" and "Émi") and so reads each profile index twice.
EXPECTED = [
    "ix_scim_users_display_name_ci",
    "ix_scim_users_given_name_ci",
    "ix_scim_users_family_name_ci",
    *[f"ix_users_profile_{k}_lower" for k in ("name", "given_name", "family_name") for _ in "12"],
]


async def _plan(conn: AsyncConnection, stmt: Select[Any]) -> str:
    compiled = stmt.compile(dialect=conn.dialect)
    values = compiled.construct_params()
    params = tuple(values[name] for name in compiled.positiontup or ())
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    rows = (await conn.exec_driver_sql(explain + compiled.string, params)).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_every_name_range_is_an_index_scan(database_url: str) -> None:
    async def go() -> list[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.exec_driver_sql("SET enable_seqscan = off")
                return [await _plan(conn, stmt) for stmt in name_ranges("Émi")]
        finally:
            await engine.dispose()

    plans = asyncio.run(go())
    assert len(plans) == len(EXPECTED)
    for plan, index in zip(plans, EXPECTED, strict=True):
        assert index in plan, plan
        # Read in the index's order: no sort step before the LIMIT.
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
