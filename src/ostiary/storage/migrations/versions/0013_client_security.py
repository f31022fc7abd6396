"""client security

What sender-constrained tokens and stronger client authentication need (RFC 7523,
RFC 9126, RFC 9449, RFC 9101, RFC 8707, RFC 8705): the clients' keys, signing algorithms
and required protections; the key a code or refresh token is bound to and the resources
it names; the single-use identifiers of assertions and proofs; pushed authorization
requests; and the registry of protected resources. Every new column may be empty or has
a default, so no row is rewritten.
"""

from typing import Any

import sqlalchemy as sa

from ostiary.storage.migrations.columns import (
    add_columns,
    client_id,
    create_table,
    digest,
    drop_columns,
    drop_table,
    flag,
    timestamp,
)

revision, down_revision = "0013", "0012"

_EXPIRING = [("expires_at",)]


def _token_binding() -> list[sa.Column[Any]]:
    return [
        sa.Column("cnf", sa.JSON(), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=True),
    ]


def _added_columns() -> dict[str, list[sa.Column[Any]]]:
    return {
        "clients": [
            sa.Column("jwks", sa.JSON(), nullable=True),
            sa.Column("jwks_uri", sa.Text(), nullable=True),
            sa.Column("token_endpoint_auth_signing_alg", sa.String(length=16), nullable=True),
            sa.Column("secret_sealed", sa.LargeBinary(), nullable=True),
            flag("require_pushed_authorization_requests"),
            flag("dpop_bound_access_tokens"),
            flag("require_signed_request_object"),
            sa.Column("request_object_signing_alg", sa.String(length=16), nullable=True),
            sa.Column("tls_client_auth_subject_dn", sa.Text(), nullable=True),
            flag("tls_client_certificate_bound_access_tokens"),
            sa.Column("profile", sa.String(length=16), nullable=True),
        ],
        "authorization_codes": _token_binding(),
        "refresh_tokens": _token_binding(),
    }


def upgrade() -> None:
    create_table(
        "used_jtis",
        digest("key"),
        timestamp("expires_at"),
        primary_key=["key"],
        indexes=_EXPIRING,
    )
    create_table(
        "pushed_authorizations",
        digest("uri_hash"),
        client_id(),
        sa.Column("params", sa.JSON(), nullable=False),
        timestamp("expires_at"),
        primary_key=["uri_hash"],
        indexes=_EXPIRING,
    )
    create_table(
        "resources",
        sa.Column("uri", sa.String(length=2000), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        timestamp("created_at"),
        primary_key=["uri"],
    )
    add_columns(_added_columns())


def downgrade() -> None:
    drop_columns(_added_columns())
    drop_table("resources")
    drop_table("pushed_authorizations", _EXPIRING)
    drop_table("used_jtis", _EXPIRING)
