"""Table definitions (SQLAlchemy Core). Alembic migrations are written against these.

Secrets never appear as given: codes, refresh tokens, session ids and client secrets
are stored as SHA-256 digests; private keys are encrypted (see ``crypto.sealing``).
Timestamps are integer Unix seconds, which both SQLite and PostgreSQL index and compare
cheaply and which JWT claims use anyway.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = BigInteger

clients = Table(
    "clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", LargeBinary(32)),
    Column("public", Boolean, nullable=False),
    Column("token_endpoint_auth_method", String(40), nullable=False),
    Column("redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("audience", JSON, nullable=False),
    Column("first_party", Boolean, nullable=False, default=False),
    Column("access_token_ttl", Integer),
    Column("refresh_token_ttl", Integer),
    Column("created_at", Timestamp, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(320)),
    Column("password_hash", String(200)),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_sealed", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("activates_at", Timestamp, nullable=False),
    Column("retired_at", Timestamp),
    Column("expires_at", Timestamp),
    Index("ix_signing_keys_alg_activates_at", "alg", "activates_at"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("auth_time", Timestamp, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_sessions_user_id", "user_id"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("browser_hash", LargeBinary(32), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Index("ix_interactions_expires_at", "expires_at"),
)

consents = Table(
    "consents",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "client_id",
        String(64),
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("scopes", JSON, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(36), nullable=False),
    Column("session_hash", LargeBinary(32)),
    Column("redirect_uri", Text, nullable=False),
    Column("redirect_uri_given", Boolean, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("code_challenge", String(128)),
    Column("auth_time", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("consumed_at", Timestamp),
    # What the first exchange issued, so a replay can revoke it (RFC 6749 §4.1.2).
    Column("family_id", String(36)),
    Column("access_jti", String(64)),
    Column("access_expires_at", Timestamp),
    Index("ix_authorization_codes_expires_at", "expires_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("family_id", String(36), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(36)),
    Column("scopes", JSON, nullable=False),
    Column("auth_time", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("expires_at", Timestamp, nullable=False),
    Column("used_at", Timestamp),
    Column("revoked_at", Timestamp),
    # The access token issued alongside this refresh token, revoked with the family.
    Column("access_jti", String(64)),
    Column("access_expires_at", Timestamp),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
    Index("ix_refresh_tokens_expires_at", "expires_at"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=False),
    Index("ix_revoked_tokens_expires_at", "expires_at"),
)
