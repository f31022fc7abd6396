"""What every repository shares: its engine, a domain type's fixed column list, and the
statement shapes each of them would otherwise write out again (run one write and count
the rows, read rows, insert and turn a unique-key clash into the caller's error).

A type's ``RowType`` names its columns once, in the order its one mapper reads them: a
row selected with them is a tuple to the mapper whether it came from SQLAlchemy Core
(``select(*shape.columns)``) or from the driver connection (``SELECT {shape.sql("u")}``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Executable, Select, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ostiary.storage.repos._driver import Driver, Row

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class RowType(Generic[T]):
    """A domain type as read from ``table``: its columns in a fixed order and the one
    function that builds it from a row of them (any sequence: a Core ``Row``, an asyncpg
    ``Record``, an SQLite tuple; the builder evens out what the drivers hand back
    differently, JSON as text and booleans as integers on SQLite)."""

    names: tuple[str, ...]
    columns: tuple[Column[Any], ...]
    build: Callable[[Row], T]
    width: int

    def __init__(self, table: Table, names: Iterable[str], build: Callable[[Row], T]) -> None:
        names = tuple(names)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "columns", tuple(table.c[n] for n in names))
        object.__setattr__(self, "build", build)
        object.__setattr__(self, "width", len(names))

    @classmethod
    def of(cls, table: Table, kind: type[T]) -> RowType[T]:
        """For a dataclass whose fields are columns of ``table`` of the same names that
        need no conversion (read through Core only): built positionally."""
        names = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
        return cls(table, names, lambda row: kind(*row))

    def sql(self, alias: str) -> str:
        """The column list for a hand-written statement that names the table ``alias``."""
        return ", ".join(f"{alias}.{name}" for name in self.names)

    def select(self) -> Select[Any]:
        return select(*self.columns)

    def named(self, row: Any) -> T:
        """From a row that selected the whole table (its columns in table order)."""
        mapping = row._mapping
        return self.build(tuple(mapping[name] for name in self.names))

    def all(self, rows: Iterable[Row]) -> list[T]:
        return [self.build(row) for row in rows]

    def values(self, item: T) -> dict[str, Any]:
        """The columns' values of ``item``, for an insert (fields named as the columns)."""
        return {name: getattr(item, name) for name in self.names}


async def column_set(conn: AsyncConnection, statement: Executable) -> set[Any]:
    """The values of the one column ``statement`` selects."""
    return set((await conn.execute(statement)).scalars())


class Repository:
    """A repository over SQLAlchemy Core; ``_driver`` is there for the statements on the
    hot paths (``_driver``'s module docstring says why)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

    async def _write(self, statement: Executable) -> int:
        """Run one write in its own transaction; the number of rows it touched."""
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def _rows(self, statement: Executable) -> Sequence[Row]:
        async with self._engine.connect() as conn:
            return (await conn.execute(statement)).all()

    async def _first(self, statement: Executable) -> Row | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(statement)).first()

    async def _sorted(self, statement: Executable) -> list[Any]:
        """The values of the one column ``statement`` selects, sorted."""
        async with self._engine.connect() as conn:
            return sorted(await column_set(conn, statement))

    async def _insert(
        self, table: Table, values: dict[str, Any], clash: Callable[[], Exception] | None = None
    ) -> bool:
        """Insert one row. On a unique-key clash: raise ``clash()`` when given, otherwise
        return False (the row, or one with its key, is there already)."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(table).values(**values))
        except IntegrityError:
            if clash is not None:
                raise clash() from None
            return False
        return True
