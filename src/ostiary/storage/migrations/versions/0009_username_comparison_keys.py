"""username comparison keys

Usernames are now unique by, and signed in with, their RFC 8265 §3.3 UsernameCaseMapped
form (case and width folded, NFC), kept in scim_users.user_name_ci, which held their plain
lowercase until now. The two differ only for names with full-width, decomposed or other
mapped characters: this rewrites those keys so such accounts can still sign in. A name
today's rule refuses keeps its lowercase key (``identifiers.username_key``), and a key
another account holds already is left as it was: no row is refused or lost.
"""

import sqlalchemy as sa
from alembic import op

from ostiary.domain.identifiers import MAX_USERNAME, username_key

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT u.id, u.username, s.user_name_ci FROM users u"
            " JOIN scim_users s ON s.user_id = u.id"
        )
    ).all()
    taken = {row.user_name_ci for row in rows}
    rewrite = sa.text("UPDATE scim_users SET user_name_ci = :key WHERE user_id = :id")
    for row in rows:
        key = username_key(row.username)
        if key is None or key == row.user_name_ci or key in taken or len(key) > MAX_USERNAME:
            continue
        bind.execute(rewrite, {"key": key, "id": row.id})
        taken.discard(row.user_name_ci)
        taken.add(key)


def downgrade() -> None:
    # The keys stay unique under the old rule's reading too; nothing to undo.
    pass
