"""federation"""

from typing import Any

import sqlalchemy as sa

from ostiary.storage.migrations.columns import (
    add_columns,
    create_table,
    created_updated,
    digest,
    drop_columns,
    drop_table,
    flag,
    timestamp,
    user_id,
)

revision, down_revision = "0005", "0004"


def _added_columns() -> dict[str, list[sa.Column[Any]]]:
    return {
        "group_members": [sa.Column("federation_provider", sa.String(length=64), nullable=True)],
        "sessions": [sa.Column("acr", sa.String(length=64), nullable=True)],
        "user_roles": [sa.Column("federation_provider", sa.String(length=64), nullable=True)],
    }


def upgrade() -> None:
    create_table(
        "federation_providers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("preset", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        flag("enabled", default=True),
        sa.Column("provisioning", sa.String(length=16), server_default="allow", nullable=False),
        flag("trust_email"),
        flag("store_tokens"),
        sa.Column("mapping", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("options", sa.JSON(), server_default="{}", nullable=False),
        *created_updated(),
        primary_key=["name"],
    )
    create_table(
        "federation_states",
        digest("state_hash"),
        digest("browser_hash"),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=True),
        sa.Column("link_user_id", sa.String(length=36), nullable=True),
        timestamp("expires_at"),
        primary_key=["state_hash"],
        indexes=[("expires_at",)],
    )
    create_table(
        "federated_identities",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        user_id(),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("access_token_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("refresh_token_sealed", sa.LargeBinary(), nullable=True),
        timestamp("token_expires_at", nullable=True),
        timestamp("created_at"),
        timestamp("last_login_at"),
        primary_key=["provider", "subject"],
        cascades={"provider": "federation_providers.name", "user_id": "users.id"},
        indexes=[("user_id",)],
    )
    add_columns(_added_columns())


def downgrade() -> None:
    drop_columns(_added_columns())
    drop_table("federated_identities", [("user_id",)])
    drop_table("federation_states", [("expires_at",)])
    drop_table("federation_providers")
