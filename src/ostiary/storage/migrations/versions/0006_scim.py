"""scim"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0006", "0005"


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
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
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
    op.create_table(
        "scim_groups",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_scim_groups_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_scim_groups")),
    )
    _backfill()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_disabled", ["disabled"], unique=False)
        batch_op.create_index("ix_users_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_users_updated_at", ["updated_at"], unique=False)
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index("ix_groups_external_id", ["external_id"], unique=False)


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
    op.drop_table("scim_groups")
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
