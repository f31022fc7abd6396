"""openid connect"""

from typing import Any

import sqlalchemy as sa

from ostiary.storage.migrations.columns import (
    add_columns,
    client_id,
    create_indexes,
    create_table,
    drop_columns,
    drop_indexes,
    drop_table,
    flag,
    timestamp,
)

revision, down_revision = "0002", "0001"

INDEXES = {"refresh_tokens": [("sid",)], "sessions": [("sid",)]}


def _added_columns() -> dict[str, list[sa.Column[Any]]]:
    """What this revision adds to the tables of 0001 (new Column objects on each call)."""
    return {
        "authorization_codes": [
            sa.Column("nonce", sa.Text(), nullable=True),
            sa.Column("sid", sa.String(length=64), nullable=True),
            sa.Column("acr", sa.String(length=64), nullable=True),
            sa.Column("amr", sa.JSON(), nullable=True),
            sa.Column("claims", sa.JSON(), nullable=True),
            timestamp("replayed_at", nullable=True),
        ],
        "clients": [
            sa.Column("post_logout_redirect_uris", sa.JSON(), server_default="[]", nullable=False),
            sa.Column("backchannel_logout_uri", sa.Text(), nullable=True),
            flag("backchannel_logout_session_required"),
            sa.Column("id_token_signed_response_alg", sa.String(length=16), nullable=True),
            sa.Column("id_token_ttl", sa.Integer(), nullable=True),
            flag("session_refresh_tokens"),
        ],
        "interactions": [flag("authenticated")],
        "refresh_tokens": [
            sa.Column("sid", sa.String(length=64), nullable=True),
            sa.Column("acr", sa.String(length=64), nullable=True),
            sa.Column("amr", sa.JSON(), nullable=True),
            sa.Column("claims", sa.JSON(), nullable=True),
        ],
        "sessions": [
            sa.Column("sid", sa.String(length=64), server_default="", nullable=False),
            sa.Column("amr", sa.JSON(), server_default="[]", nullable=False),
        ],
        "users": [
            flag("email_verified"),
            sa.Column("phone_number", sa.String(length=40), nullable=True),
            flag("phone_number_verified"),
            sa.Column("profile", sa.JSON(), server_default="{}", nullable=False),
        ],
    }


def upgrade() -> None:
    create_table(
        "backchannel_logout_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        client_id(),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        timestamp("failed_at"),
        primary_key=["id"],
        indexes=[("failed_at",)],
    )
    create_table(
        "session_clients",
        sa.Column("sid", sa.String(length=64), nullable=False),
        client_id(),
        timestamp("created_at"),
        primary_key=["sid", "client_id"],
    )
    add_columns(_added_columns())
    for table, indexes in INDEXES.items():
        create_indexes(table, indexes)


def downgrade() -> None:
    for table, indexes in INDEXES.items():
        drop_indexes(table, indexes)
    drop_columns(_added_columns())
    drop_table("session_clients")
    drop_table("backchannel_logout_failures", [("failed_at",)])
