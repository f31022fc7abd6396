"""scim

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ci(length: int) -> sa.types.TypeEngine:
    # Code-point comparison on PostgreSQL (tables._ci).
    return sa.String(length=length).with_variant(
        sa.String(length=length, collation="C"), "postgresql"
    )


def _child(name: str, value_length: int) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("value_ci", _ci(value_length), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=True),
        sa.Column("primary", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f(f"fk_{name}_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(f"ix_{name}_user_id", ["user_id"], unique=False)
        batch_op.create_index(f"ix_{name}_value_ci", ["value_ci"], unique=False)


def upgrade() -> None:
    op.create_table(
        "scim_users",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("user_name_ci", _ci(150), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("display_name_ci", _ci(200), nullable=True),
        sa.Column("given_name_ci", _ci(200), nullable=True),
        sa.Column("family_name_ci", _ci(200), nullable=True),
        sa.Column("resource", sa.JSON(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_scim_users_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_scim_users")),
        sa.UniqueConstraint("user_name_ci", name=op.f("uq_scim_users_user_name_ci")),
    )
    with op.batch_alter_table("scim_users", schema=None) as batch_op:
        batch_op.create_index("ix_scim_users_external_id", ["external_id"], unique=False)
        batch_op.create_index("ix_scim_users_display_name_ci", ["display_name_ci"], unique=False)
        batch_op.create_index("ix_scim_users_given_name_ci", ["given_name_ci"], unique=False)
        batch_op.create_index("ix_scim_users_family_name_ci", ["family_name_ci"], unique=False)
    _child("scim_user_emails", 320)
    _child("scim_user_phones", 64)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_disabled", ["disabled"], unique=False)
        batch_op.create_index("ix_users_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_users_updated_at", ["updated_at"], unique=False)
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index("ix_groups_external_id", ["external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index("ix_groups_external_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_updated_at")
        batch_op.drop_index("ix_users_created_at")
        batch_op.drop_index("ix_users_disabled")
    for name in ("scim_user_phones", "scim_user_emails"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{name}_value_ci")
            batch_op.drop_index(f"ix_{name}_user_id")
        op.drop_table(name)
    with op.batch_alter_table("scim_users", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_users_family_name_ci")
        batch_op.drop_index("ix_scim_users_given_name_ci")
        batch_op.drop_index("ix_scim_users_display_name_ci")
        batch_op.drop_index("ix_scim_users_external_id")
    op.drop_table("scim_users")
