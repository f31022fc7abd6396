"""scim"""

import sqlalchemy as sa
from alembic import op

from ostiary.storage.migrations.columns import (
    create_indexes,
    create_table,
    drop_indexes,
    drop_table,
    flag,
    user_id,
)

revision, down_revision = "0006", "0005"


def _ci(length: int) -> sa.types.TypeEngine:
    # Code-point comparison on PostgreSQL (tables._ci).
    return sa.String(length=length).with_variant(
        sa.String(length=length, collation="C"), "postgresql"
    )


CHILDREN = {"scim_user_emails": 320, "scim_user_phones": 64}
CHILD_INDEXES = [("user_id",), ("value_ci",)]
SCIM_USER_INDEXES = [
    ("external_id",),
    ("display_name_ci",),
    ("given_name_ci",),
    ("family_name_ci",),
]
# SCIM filters and sorts on columns of tables other features own.
OTHER_INDEXES = {
    "users": [("disabled",), ("created_at",), ("updated_at",)],
    "groups": [("external_id",)],
}


def _child(name: str, value_length: int) -> None:
    create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        user_id(),
        sa.Column("value_ci", _ci(value_length), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=True),
        flag("primary"),
        primary_key=["id"],
        cascades={"user_id": "users.id"},
        indexes=CHILD_INDEXES,
    )


def upgrade() -> None:
    create_table(
        "scim_users",
        user_id(),
        sa.Column("user_name_ci", _ci(150), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("display_name_ci", _ci(200), nullable=True),
        sa.Column("given_name_ci", _ci(200), nullable=True),
        sa.Column("family_name_ci", _ci(200), nullable=True),
        sa.Column("resource", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        primary_key=["user_id"],
        cascades={"user_id": "users.id"},
        unique="user_name_ci",
        indexes=SCIM_USER_INDEXES,
    )
    for name, value_length in CHILDREN.items():
        _child(name, value_length)
    create_table(
        "scim_groups",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        primary_key=["group_id"],
        cascades={"group_id": "groups.id"},
    )
    _backfill()
    for table, indexes in OTHER_INDEXES.items():
        create_indexes(table, indexes)


def _backfill() -> None:
    """Accounts made before this revision get their SCIM row (later ones get it from
    ``UserRepository.add``). Of names differing only in case, the oldest account keeps it."""
    bind = op.get_bind()
    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("username", sa.String),
        sa.column("email", sa.String),
        sa.column("created_at", sa.BigInteger),
    )
    rows = bind.execute(
        sa.select(users.c.id, users.c.username, users.c.email).order_by(
            users.c.created_at, users.c.id
        )
    ).all()
    scim_users = sa.table(
        "scim_users",
        sa.column("user_id", sa.String),
        sa.column("user_name_ci", sa.String),
        sa.column("resource", sa.JSON),
    )
    emails = sa.table(
        "scim_user_emails",
        sa.column("user_id", sa.String),
        sa.column("value_ci", sa.String),
        sa.column("primary", sa.Boolean),
    )
    seen: set[str] = set()
    views, addresses = [], []
    for row in rows:
        if row.username.lower() in seen:
            continue
        seen.add(row.username.lower())
        resource = {"emails": [{"value": row.email, "primary": True}]} if row.email else {}
        views.append(
            {"user_id": row.id, "user_name_ci": row.username.lower(), "resource": resource}
        )
        if row.email:
            addresses.append({"user_id": row.id, "value_ci": row.email.lower(), "primary": True})
    if views:
        bind.execute(sa.insert(scim_users), views)
    if addresses:
        bind.execute(sa.insert(emails), addresses)


def downgrade() -> None:
    drop_table("scim_groups")
    for table, indexes in reversed(OTHER_INDEXES.items()):
        drop_indexes(table, indexes)
    for name in reversed(CHILDREN):
        drop_table(name, CHILD_INDEXES)
    drop_table("scim_users", SCIM_USER_INDEXES)
