"""hot path indexes

Without them, deleting or revoking a client scans refresh_tokens (and consents, through the
foreign key's cascade), and ending a session scans authorization_codes for the access
tokens its codes issued.
"""

from alembic import op

revision, down_revision = "0007", "0006"

INDEXES = [
    ("ix_refresh_tokens_client_id", "refresh_tokens", "client_id"),
    ("ix_consents_client_id", "consents", "client_id"),
    ("ix_authorization_codes_sid", "authorization_codes", "sid"),
]


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
