"""revocation feed"""

import sqlalchemy as sa

from ostiary.storage.migrations.columns import create_table, drop_table, serial_id, timestamp

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    create_table(
        "revocation_events",
        serial_id(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        timestamp("not_before"),
        timestamp("expires_at"),
        timestamp("at"),
        primary_key=["id"],
        indexes=[("expires_at",)],
    )


def downgrade() -> None:
    drop_table("revocation_events", [("expires_at",)])
