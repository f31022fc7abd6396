"""The column kinds and table shapes the revisions share, written once.

Revisions use these instead of ``storage.tables``: a revision must build the schema of its
own day, not today's. Every call returns new objects, as a Column or constraint belongs to
one table only. Names follow the metadata's naming convention (``pk_<table>``,
``fk_<table>_<column>_<referred table>``, ``uq_<table>_<column>``, ``ix_<table>_<columns>``).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# Column lists of a table's plain indexes: ("expires_at",), ("type", "at").
Indexes = Sequence[Sequence[str]]


def timestamp(name: str, *, nullable: bool = False) -> sa.Column[int]:
    """Integer Unix seconds (tables.Timestamp)."""
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def created_updated() -> tuple[sa.Column[int], sa.Column[int]]:
    return timestamp("created_at"), timestamp("updated_at")


def user_id(*, nullable: bool = False) -> sa.Column[str]:
    """The id of a user (users.id)."""
    return sa.Column("user_id", sa.String(length=36), nullable=nullable)


def client_id() -> sa.Column[str]:
    """The id of a client (clients.client_id)."""
    return sa.Column("client_id", sa.String(length=64), nullable=False)


def issued_access_token() -> tuple[sa.Column[str], sa.Column[int]]:
    """The access token a code or refresh token issued, so its revocation can reach it."""
    return (
        sa.Column("access_jti", sa.String(length=64), nullable=True),
        timestamp("access_expires_at", nullable=True),
    )


def digest(name: str) -> sa.Column[bytes]:
    """A SHA-256 digest standing for a secret that is never stored as given."""
    return sa.Column(name, sa.LargeBinary(length=32), nullable=False)


def flag(name: str, *, default: bool = False) -> sa.Column[bool]:
    """A required boolean whose default also fills the rows already there."""
    return sa.Column(name, sa.Boolean(), server_default="1" if default else "0", nullable=False)


def serial_id() -> sa.Column[int]:
    """A 64-bit counter for append-only logs; SQLite autoincrements only INTEGER keys."""
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def create_table(
    name: str,
    *columns: sa.Column[Any],
    primary_key: Sequence[str],
    cascades: dict[str, str] | None = None,
    unique: str | None = None,
    indexes: Indexes = (),
) -> None:
    """The table with its constraints and indexes. ``cascades`` maps a column to the
    ``table.column`` it refers to; the row goes when the row it refers to does."""
    constraints: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(
            [column],
            [target],
            name=op.f(f"fk_{name}_{column}_{target.split('.')[0]}"),
            ondelete="CASCADE",
        )
        for column, target in (cascades or {}).items()
    ]
    constraints.append(sa.PrimaryKeyConstraint(*primary_key, name=op.f(f"pk_{name}")))
    if unique is not None:
        constraints.append(sa.UniqueConstraint(unique, name=op.f(f"uq_{name}_{unique}")))
    op.create_table(name, *columns, *constraints)
    create_indexes(name, indexes)


def drop_table(name: str, indexes: Indexes = ()) -> None:
    drop_indexes(name, indexes)
    op.drop_table(name)


def add_columns(tables: Mapping[str, Sequence[sa.Column[Any]]]) -> None:
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.add_column(column)


def drop_columns(tables: Mapping[str, Sequence[sa.Column[Any]]]) -> None:
    """The columns ``add_columns`` added, the last added first."""
    for table, columns in reversed(list(tables.items())):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(columns):
                batch_op.drop_column(column.name)


def create_indexes(table: str, indexes: Indexes) -> None:
    if not indexes:
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        for columns in indexes:
            batch_op.create_index(_index_name(table, columns), list(columns), unique=False)


def drop_indexes(table: str, indexes: Indexes) -> None:
    """The indexes ``create_indexes`` made, the last made first."""
    if not indexes:
        return
    with op.batch_alter_table(table, schema=None) as batch_op:
        for columns in reversed(indexes):
            batch_op.drop_index(_index_name(table, columns))


def _index_name(table: str, columns: Sequence[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"
