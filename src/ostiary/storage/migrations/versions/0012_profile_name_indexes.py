"""profile name indexes

The console finds users by the start of their name, given name or family name. SCIM
keeps those in indexed columns of its own; a name set through the admin API, the
console, the CLI, federation or the account pages is only in ``users.profile`` (JSON).
Three expression indexes on the lowercased profile names make those ranges index scans
too. The expressions are ``storage.profile_names``' (a revision normally avoids today's
code, but an expression index is only used by a query holding the same expression, so
both must come from one place).
"""

import sqlalchemy as sa
from alembic import op

from ostiary.storage.profile_names import NAME_KEYS, lower_profile_name

revision, down_revision = "0012", "0011"

# Today's users table as far as these indexes need it.
_users = sa.table("users", sa.column("profile", sa.JSON()))


def _name(key: str) -> str:
    return f"ix_users_profile_{key}_lower"


def upgrade() -> None:
    for key in NAME_KEYS:
        op.create_index(_name(key), "users", [lower_profile_name(_users.c.profile, key)])


def downgrade() -> None:
    for key in reversed(NAME_KEYS):
        op.drop_index(_name(key), table_name="users")
