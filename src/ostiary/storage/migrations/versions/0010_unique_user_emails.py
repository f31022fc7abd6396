"""unique user email addresses

One account per email address, compared case-insensitively: a unique index on
lower(email) where email is set. A database in which two accounts already share an
address cannot take it, and the upgrade must not fail over that (every command migrates
first, and the commands that fix the rows would be locked out): the index is then left
out and each group is reported as a warning. ``storage.email_index.ensure`` runs again
after every upgrade and creates the index once the addresses are apart; meanwhile every
door refuses a new shared address by its own check.
"""

from alembic import op

from ostiary.storage import email_index

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    email_index.ensure(op.get_bind())


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ux_users_email_lower")
