"""Whether an account's roles or groups require MFA, as SQL a hot statement embeds (the
password login's read, a session's read): one statement instead of ``Access.effective`` and
``Access.mfa_required_by``'s several. ``tests/integration/test_login_reads_mfa.py`` holds
both reads to those repositories.

Column expressions are constants of this module; every value is a bound parameter.
"""

from __future__ import annotations


def member_of(user_ids: str) -> str:
    """``WITH RECURSIVE member_of(id)``: the groups of the users ``user_ids`` selects,
    directly or through parent groups."""
    return f"""WITH RECURSIVE member_of(id) AS (
    SELECT gm.group_id FROM group_members gm WHERE gm.user_id IN ({user_ids})
    UNION
    SELECT gp.parent_id FROM group_parents gp JOIN member_of m ON gp.child_id = m.id
)"""  # noqa: S608


def required(user_id: str, true: str) -> str:
    """A boolean: a role of ``user_id`` (direct or through ``member_of``), or a group of
    ``member_of``, requires MFA; ``true`` is the placeholder of the parameter True."""
    return f"""(
    EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.name = ur.role
            WHERE ur.user_id = {user_id} AND r.require_mfa = {true})
    OR EXISTS (SELECT 1 FROM groups g JOIN member_of m ON m.id = g.id
               WHERE g.require_mfa = {true})
    OR EXISTS (SELECT 1 FROM group_roles gr JOIN member_of m ON m.id = gr.group_id
               JOIN roles r ON r.name = gr.role WHERE r.require_mfa = {true})
)"""  # noqa: S608
