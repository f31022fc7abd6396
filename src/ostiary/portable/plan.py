"""What applying a state document would change, worked out before anything is written.

The whole document is checked first, against itself and against what the database holds
(every reference resolves in the state the import leaves, nesting stays acyclic, ...);
only a document without a problem yields a plan. A plan is a list of changes, each one
line for people and one call into the same services the admin API and the CLI use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

from ostiary.portable.document import Document, InvalidDocument
from ostiary.portable.snapshot import Snapshot
from ostiary.services import Services

E = TypeVar("E")

ACTOR = "cli"
_PAST = {"create": "created", "update": "updated", "delete": "deleted"}


class Phase(IntEnum):
    """The order changes run in: what a change refers to exists before it, and what a
    deletion would leave dangling (or a nesting would loop through) is gone first."""

    ROLES = 1
    SCOPES = 2
    PROVIDERS = 3
    CLIENTS = 4
    GROUPS = 5
    PRUNE_USERS = 6
    PRUNE_GROUPS = 7
    NESTING = 8
    USERS = 9
    USER_LINKS = 10
    PRUNE_CLIENTS = 11
    PRUNE_PROVIDERS = 12
    PRUNE_SCOPES = 13
    PRUNE_ROLES = 14


@dataclass(frozen=True)
class Change:
    action: str  # create, update or delete
    kind: str
    name: str
    detail: str
    phase: Phase
    run: Callable[[], Awaitable[None]] = field(repr=False, compare=False)

    def line(self, *, done: bool) -> str:
        verb = _PAST[self.action] if done else f"would {self.action}"
        return f"{verb} {self.kind} {self.name}" + (f": {self.detail}" if self.detail else "")

    def summary(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "detail": self.detail}


@dataclass
class Planning:
    """The document, the database's state, and the plan being made from them."""

    services: Services
    doc: Document
    now: Snapshot
    prune: bool
    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Secrets of confidential clients the document creates without a hash, shown once.
    new_secrets: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        phase: Phase,
        action: str,
        kind: str,
        name: str,
        run: Callable[[], Awaitable[None]],
        detail: str = "",
    ) -> None:
        self.changes.append(Change(action, kind, name, detail, phase, run))

    def problem(self, section: str, index: int, name: str, message: str) -> None:
        self.problems.append(f"{section}[{index}] ({name!r}): {message}")

    def unique(
        self, section: str, given: list[E], key: Callable[[E], str], label: str = "name"
    ) -> Iterator[tuple[int, E]]:
        """The entries of ``section`` with their index, each named once; an entry whose
        key another entry repeats is a problem, never planned."""
        twice = duplicates([key(entry) for entry in given])
        for index, entry in enumerate(given):
            if key(entry) in twice:
                self.problem(section, index, key(entry), f"{label} appears more than once")
            else:
                yield index, entry

    def final(self, section: str, current: set[str], given: set[str]) -> set[str]:
        """The names a section holds once the document is applied."""
        if getattr(self.doc, section) is None:
            return current
        return given if self.prune else current | given

    def final_names(self, section: str) -> set[str]:
        """The names of a section's entries (roles, groups, providers) once the document
        is applied."""
        current = set(getattr(self.now, section))
        return self.final(section, current, {e.name for e in getattr(self.doc, section) or []})

    def pruned(self, section: str, current: set[str], given: set[str]) -> list[str]:
        if not self.prune or getattr(self.doc, section) is None:
            return []
        return sorted(current - given)

    async def record(
        self, type: str, *, details: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """An audit event like the admin API's, by the command line, marked as an import."""
        await self.services.audit.record(
            type, actor=ACTOR, details={**(details or {}), "via": "import"}, **fields
        )

    def ordered(self) -> list[Change]:
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            raise InvalidDocument(self.problems[0] + more)
        return sorted(self.changes, key=lambda c: c.phase)


def differences(before: dict[str, Any], after: dict[str, Any], *skip: str) -> list[str]:
    return sorted(k for k in after if k not in skip and before.get(k) != after[k])


def duplicates(names: list[str]) -> set[str]:
    seen: set[str] = set()
    return {n for n in names if n in seen or seen.add(n)}  # type: ignore[func-returns-value]
