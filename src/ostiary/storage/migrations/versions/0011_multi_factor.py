"""multi-factor authentication

Second factors (TOTP secrets, sealed; passkeys' public keys) and single-use recovery codes
per user; the MFA policy's flags on roles, groups and clients, and the trust an upstream
provider's MFA gets; and, on an interaction, who passed the first factor and still owes a
second one. Every new column has a default or may be empty, so no row is rewritten.
"""

from typing import Any

import sqlalchemy as sa

from ostiary.storage.migrations.columns import (
    add_columns,
    create_table,
    digest,
    drop_columns,
    drop_table,
    flag,
    timestamp,
    user_id,
)

revision, down_revision = "0011", "0010"

_FACTOR_INDEXES = [("user_id",)]


def _added_columns() -> dict[str, list[sa.Column[Any]]]:
    return {
        "roles": [flag("require_mfa")],
        "groups": [flag("require_mfa")],
        "clients": [flag("require_mfa")],
        "federation_providers": [flag("trust_mfa")],
        "interactions": [
            sa.Column("pending_user_id", sa.String(length=36), nullable=True),
            sa.Column("pending", sa.JSON(), nullable=True),
        ],
    }


def upgrade() -> None:
    create_table(
        "mfa_factors",
        sa.Column("id", sa.String(length=36), nullable=False),
        user_id(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        timestamp("created_at"),
        timestamp("last_used_at", nullable=True),
        flag("confirmed", default=True),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("transports", sa.JSON(), server_default="[]", nullable=False),
        flag("backup_eligible"),
        flag("backup_state"),
        flag("discoverable"),
        primary_key=["id"],
        cascades={"user_id": "users.id"},
        unique="credential_id",
        indexes=_FACTOR_INDEXES,
    )
    create_table(
        "recovery_codes",
        user_id(),
        digest("code_hash"),
        timestamp("created_at"),
        timestamp("used_at", nullable=True),
        primary_key=["user_id", "code_hash"],
        cascades={"user_id": "users.id"},
    )
    add_columns(_added_columns())


def downgrade() -> None:
    drop_columns(_added_columns())
    drop_table("recovery_codes")
    drop_table("mfa_factors", _FACTOR_INDEXES)
