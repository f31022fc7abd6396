"""``ostiary import``: make the database hold what a state document says.

Idempotent: each item is compared with what the database holds, and only differences
become changes, so applying a document twice changes nothing the second time. A section
the document leaves out is not managed at all; items of a present section that the
document does not name stay, unless ``prune`` deletes them.

The whole document is checked before the first write. The writes then go through the
repositories one change at a time (each its own transaction, as from the admin API), so
a failure part-way (the database going away) leaves the changes before it applied:
``on_done`` has reported each one as it completed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ostiary.portable import plan_access, plan_clients, plan_providers, plan_users, snapshot
from ostiary.portable.document import Document
from ostiary.portable.plan import Change, Planning
from ostiary.services import Services


class Stopped(Exception):
    """A change failed after ``applied`` of ``total`` were made; ``__cause__`` says why."""

    def __init__(self, change: Change, applied: int, total: int) -> None:
        super().__init__(f"stopped at {change.line(done=False).removeprefix('would ')!r}")
        self.change = change
        self.applied = applied
        self.total = total


@dataclass
class Outcome:
    changes: list[Change]
    applied: int = 0
    # client_id -> secret of each confidential client created without a hash (shown once).
    new_secrets: dict[str, str] = field(default_factory=dict)


async def plan(services: Services, doc: Document, *, prune: bool) -> Planning:
    """Check the document against the database and work out the changes; raises
    InvalidDocument with the first problem found."""
    now = await snapshot.read(services, users=doc.users is not None)
    planning = Planning(services, doc, now, prune)
    plan_access.plan_roles(planning)
    plan_access.plan_scopes(planning)
    plan_providers.plan(planning)
    plan_clients.plan(planning)
    plan_access.plan_groups(planning)
    plan_users.plan(planning)
    return planning


async def apply(
    services: Services,
    doc: Document,
    *,
    prune: bool,
    dry_run: bool,
    on_done: Callable[[Change], None],
) -> Outcome:
    planning = await plan(services, doc, prune=prune)
    outcome = Outcome(planning.ordered(), new_secrets=planning.new_secrets)
    if not dry_run:
        outcome.applied = await execute(outcome.changes, on_done)
    return outcome


async def execute(changes: list[Change], on_done: Callable[[Change], None]) -> int:
    """Make the changes in order, reporting each once made; Stopped at the first failure."""
    for applied, change in enumerate(changes):
        try:
            await change.run()
        except Exception as exc:
            raise Stopped(change, applied, len(changes)) from exc
        on_done(change)
    return len(changes)
