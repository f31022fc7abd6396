"""initial schema"""

import sqlalchemy as sa

from ostiary.storage.migrations.columns import (
    client_id,
    create_table,
    created_updated,
    digest,
    drop_table,
    issued_access_token,
    timestamp,
    user_id,
)

revision, down_revision = "0001", None


def upgrade() -> None:
    create_table(
        "authorization_codes",
        digest("code_hash"),
        client_id(),
        user_id(),
        sa.Column("session_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("redirect_uri_given", sa.Boolean(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        timestamp("auth_time"),
        timestamp("expires_at"),
        timestamp("consumed_at", nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        *issued_access_token(),
        primary_key=["code_hash"],
        indexes=[("expires_at",)],
    )
    create_table(
        "clients",
        client_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=40), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("first_party", sa.Boolean(), nullable=False),
        sa.Column("access_token_ttl", sa.Integer(), nullable=True),
        sa.Column("refresh_token_ttl", sa.Integer(), nullable=True),
        timestamp("created_at"),
        primary_key=["client_id"],
    )
    create_table(
        "interactions",
        sa.Column("id", sa.String(length=64), nullable=False),
        digest("browser_hash"),
        client_id(),
        sa.Column("request", sa.JSON(), nullable=False),
        timestamp("expires_at"),
        primary_key=["id"],
        indexes=[("expires_at",)],
    )
    create_table(
        "refresh_tokens",
        digest("token_hash"),
        sa.Column("family_id", sa.String(length=36), nullable=False),
        client_id(),
        user_id(nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        timestamp("auth_time", nullable=True),
        timestamp("created_at"),
        timestamp("expires_at"),
        timestamp("used_at", nullable=True),
        timestamp("revoked_at", nullable=True),
        *issued_access_token(),
        primary_key=["token_hash"],
        indexes=[("expires_at",), ("family_id",), ("user_id",)],
    )
    create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        timestamp("expires_at"),
        timestamp("revoked_at"),
        primary_key=["jti"],
        indexes=[("expires_at",)],
    )
    create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        timestamp("created_at"),
        timestamp("activates_at"),
        timestamp("retired_at", nullable=True),
        timestamp("expires_at", nullable=True),
        primary_key=["kid"],
        indexes=[("alg", "activates_at")],
    )
    create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        *created_updated(),
        primary_key=["id"],
        unique="username",
    )
    create_table(
        "consents",
        user_id(),
        client_id(),
        sa.Column("scopes", sa.JSON(), nullable=False),
        timestamp("updated_at"),
        primary_key=["user_id", "client_id"],
        cascades={"client_id": "clients.client_id", "user_id": "users.id"},
    )
    create_table(
        "sessions",
        digest("id_hash"),
        user_id(),
        timestamp("auth_time"),
        timestamp("created_at"),
        timestamp("expires_at"),
        primary_key=["id_hash"],
        cascades={"user_id": "users.id"},
        indexes=[("user_id",)],
    )


def downgrade() -> None:
    drop_table("sessions", [("user_id",)])
    drop_table("consents")
    drop_table("users")
    drop_table("signing_keys", [("alg", "activates_at")])
    drop_table("revoked_tokens", [("expires_at",)])
    drop_table("refresh_tokens", [("expires_at",), ("family_id",), ("user_id",)])
    drop_table("interactions", [("expires_at",)])
    drop_table("clients")
    drop_table("authorization_codes", [("expires_at",)])
