"""The repositories of ``domain.repositories`` over plain dicts, for fast unit tests.

Same semantics as the SQL ones (single-use codes and their replay, refresh rotation and
family revocation, sessions ending, role gates, throttles), with ``clock.now()`` for time;
never on a production path, so written for clarity rather than speed.
"""

from ostiary.storage.memory.store import MemoryStore
from ostiary.storage.memory.tables import Tables

__all__ = ["MemoryStore", "Tables"]
