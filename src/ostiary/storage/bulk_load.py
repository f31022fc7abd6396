"""Rows in bulk (``ostiary dev seed``): PostgreSQL ``COPY``, SQLite ``executemany`` in one
transaction per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.tables import metadata

BATCH = 10_000


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def bulk_insert(engine: AsyncEngine, table_name: str, rows: Iterator[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts of column values) into the table named, in batches."""
    table = metadata.tables[table_name]
    if engine.dialect.name == "postgresql":
        await _copy(engine, table, rows)
        return
    for batch in _batches(rows):
        async with engine.begin() as conn:
            await conn.execute(insert(table), batch)


async def _copy(engine: AsyncEngine, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    """PostgreSQL COPY through asyncpg: the fastest bulk path, one commit per batch."""
    columns = [c.name for c in table.columns]
    encoders: list[Callable[[Any], Any]] = [
        _json_text if c.type.__class__.__name__ == "JSON" else _same for c in table.columns
    ]
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        for batch in _batches(rows):
            records = [
                tuple(enc(row[name]) for enc, name in zip(encoders, columns, strict=True))
                for row in batch
            ]
            await driver.copy_records_to_table(table.name, records=records, columns=columns)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _same(value: Any) -> Any:
    return value
