"""What an unauthenticated request may leave behind: the rows of the tables a protocol
request can write, counted in the server's own database (SQLAlchemy, one statement)."""

from __future__ import annotations

from sqlalchemy import text

from ostiary.services import Services
from tests.conftest import LiveServer

# Pending interactions, codes, refresh tokens and sessions: what an attacker who is not
# signed in must not be able to make the server store by sending a refused request.
TABLES = ("interactions", "authorization_codes", "refresh_tokens", "sessions")
_COUNT = text("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES))


def row_counts(server: LiveServer) -> dict[str, int]:
    async def count(services: Services) -> dict[str, int]:
        async with services.engine.connect() as conn:
            row = (await conn.execute(_COUNT)).one()
        return dict(zip(TABLES, (int(n) for n in row), strict=True))

    return server.call(count)


def assert_nothing_stored(before: dict[str, int], after: dict[str, int]) -> None:
    """No table grew (the retention purge may shrink one in between)."""
    grown = {t: (before[t], after[t]) for t in TABLES if after[t] > before[t]}
    assert not grown, f"a refused request stored rows: {grown}"


def largest_interaction(server: LiveServer) -> int:
    """The size in bytes of the largest stored authorization request."""

    async def size(services: Services) -> int:
        async with services.engine.connect() as conn:
            value = await conn.scalar(
                text("SELECT max(length(CAST(request AS TEXT))) FROM interactions")
            )
        return int(value or 0)

    return server.call(size)
