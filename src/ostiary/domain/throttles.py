"""What the login throttle knows of a key (username or address)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottleState:
    # The latest lock end among the keys asked about (0 when none is locked).
    locked_until: int
    # The keys that have a record (failures counted, possibly locked).
    recorded: frozenset[str]
