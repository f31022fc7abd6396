"""Request counts per endpoint group, address and window, added up by every node.

One statement per exchange (``ostiary.limits``): every counter's delta travels in one JSON
array, is added with an upsert and the totals come back, on the driver connection since
every request counts (speed); the purge is SQLAlchemy Core. Rows go in key order, so two
nodes adding to the same counters lock them in the same order and never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete

from ostiary import clock
from ostiary.storage.repos._base import Repository
from ostiary.storage.repos._driver import json_text
from ostiary.storage.tables import rate_limit_counters

_ADD = {
    True: """
INSERT INTO rate_limit_counters (key, window_start, hits, expires_at)
SELECT k, w, h, e FROM json_to_recordset($1::json) AS r(k text, w bigint, h int, e bigint)
ORDER BY k, w
ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + excluded.hits
RETURNING key, window_start, hits
""",
    # "WHERE true": SQLite's parser needs it between a SELECT and ON CONFLICT.
    False: """
INSERT INTO rate_limit_counters (key, window_start, hits, expires_at)
SELECT json_extract(value, '$.k'), json_extract(value, '$.w'), json_extract(value, '$.h'),
    json_extract(value, '$.e')
FROM json_each($1) WHERE true
ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + excluded.hits
RETURNING key, window_start, hits
""",
}


class RateLimitRepository(Repository):
    async def add(self, deltas: Sequence[tuple[str, int, int, int]]) -> dict[tuple[str, int], int]:
        """Add (key, window_start, hits, expires_at) deltas; the totals after, by key and window."""
        if not deltas:
            return {}
        rows = [{"k": k, "w": w, "h": h, "e": e} for k, w, h, e in sorted(deltas)]
        result = await self._driver.fetch(_ADD[self._driver.postgresql], json_text(rows))
        return {(str(key), int(start)): int(hits) for key, start, hits in result}

    async def purge_expired(self) -> int:
        return await self._write(
            delete(rate_limit_counters).where(rate_limit_counters.c.expires_at < clock.now())
        )

    async def close(self) -> None:
        # The engine belongs to the store; nothing of this repository's own to release.
        return None
