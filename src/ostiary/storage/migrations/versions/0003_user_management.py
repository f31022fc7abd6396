"""user management"""

from typing import Any

import sqlalchemy as sa

from ostiary.storage.migrations.columns import (
    Indexes,
    add_columns,
    create_table,
    created_updated,
    digest,
    drop_columns,
    drop_table,
    flag,
    serial_id,
    timestamp,
    user_id,
)

revision, down_revision = "0003", "0002"

# A side of a many-to-many table: its column, the column's length, what it refers to.
Side = tuple[str, int, str]

# table, its two sides, its indexes besides the key.
LINKS: list[tuple[str, Side, Side, Indexes]] = [
    ("group_members", ("group_id", 36, "groups.id"), ("user_id", 36, "users.id"), [("user_id",)]),
    ("group_parents", ("child_id", 36, "groups.id"), ("parent_id", 36, "groups.id"), []),
    ("group_roles", ("group_id", 36, "groups.id"), ("role", 100, "roles.name"), []),
    ("scope_roles", ("scope", 200, "scopes.name"), ("role", 100, "roles.name"), []),
    ("user_roles", ("user_id", 36, "users.id"), ("role", 100, "roles.name"), [("role",)]),
]
AUDIT_INDEXES = [("at",), ("type", "at"), ("user_id", "at")]
ONE_TIME_TOKEN_INDEXES = [("expires_at",), ("user_id",)]


def _added_columns() -> dict[str, list[sa.Column[Any]]]:
    return {
        "clients": [
            flag("include_roles"),
            flag("include_groups"),
            sa.Column("tokens_valid_after", sa.BigInteger(), server_default="0", nullable=False),
        ]
    }


def _catalogue(name: str, key_length: int) -> None:
    """Names an administrator registers (roles, scopes), each with its description."""
    create_table(
        name,
        sa.Column("name", sa.String(length=key_length), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        timestamp("created_at"),
        primary_key=["name"],
    )


def _link(name: str, left: Side, right: Side, indexes: Indexes) -> None:
    """A many-to-many table: the pair is its key, and a row goes with either side."""
    create_table(
        name,
        *(
            sa.Column(column, sa.String(length=length), nullable=False)
            for column, length, _ in (left, right)
        ),
        primary_key=[left[0], right[0]],
        cascades={column: target for column, _, target in (left, right)},
        indexes=indexes,
    )


def upgrade() -> None:
    create_table(
        "audit_events",
        serial_id(),
        timestamp("at"),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), server_default="{}", nullable=False),
        primary_key=["id"],
        indexes=AUDIT_INDEXES,
    )
    create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        *created_updated(),
        primary_key=["id"],
        unique="name",
    )
    _catalogue("roles", 100)
    _catalogue("scopes", 200)
    create_table(
        "throttles",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        timestamp("last_failure_at"),
        timestamp("locked_until"),
        primary_key=["key"],
        indexes=[("last_failure_at",)],
    )
    create_table(
        "one_time_tokens",
        digest("token_hash"),
        user_id(),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        timestamp("created_at"),
        timestamp("expires_at"),
        timestamp("used_at", nullable=True),
        primary_key=["token_hash"],
        cascades={"user_id": "users.id"},
        indexes=ONE_TIME_TOKEN_INDEXES,
    )
    for link in LINKS:
        _link(*link)
    add_columns(_added_columns())


def downgrade() -> None:
    drop_columns(_added_columns())
    for name, _left, _right, indexes in reversed(LINKS):
        drop_table(name, indexes)
    drop_table("one_time_tokens", ONE_TIME_TOKEN_INDEXES)
    drop_table("throttles", [("last_failure_at",)])
    drop_table("scopes")
    drop_table("roles")
    drop_table("groups")
    drop_table("audit_events", AUDIT_INDEXES)
