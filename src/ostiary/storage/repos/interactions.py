"""Pending authorization requests waiting for login or consent, bound to one browser.

Every step of a browser login reads or writes its interaction, so those statements run on
the driver connection (``_driver``, issue #8); the purge stays on SQLAlchemy Core. The
interaction pages read the interaction with what they show or check next in one statement
(``state``): the role gates of its scopes and the sign-in buttons of the enabled upstream
providers, read at the same moment as the interaction, not from a cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.storage.repos._driver import Driver, Row, Writes, json_text, json_value
from ostiary.storage.repos._gates import Gates, gates_sql, parse_gates
from ostiary.storage.tables import interactions


@dataclass(frozen=True, slots=True)
class Interaction:
    id: str
    browser_hash: bytes
    client_id: str
    request: dict[str, Any]
    expires_at: int
    authenticated: bool = False


_INSERT = (
    "INSERT INTO interactions (id, browser_hash, client_id, request, expires_at, authenticated)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_LIVE = (
    "SELECT id, browser_hash, client_id, request, expires_at, authenticated"
    " FROM interactions WHERE id = $1 AND expires_at > $2"
)


@dataclass(frozen=True, slots=True)
class InteractionState:
    interaction: Interaction
    # Which of the requested scopes a role gates, and the roles that may have them.
    gates: Gates
    # (name, display name) of each enabled upstream provider, for a login page.
    buttons: list[tuple[str, str]]


# Column expressions are constants of this module; every value is a bound parameter.
def _buttons_sql(postgresql: bool, enabled: str) -> str:
    """The enabled upstream providers as a JSON array of [name, display name];
    ``enabled``: the placeholder of the parameter True."""
    if postgresql:
        return (
            "SELECT json_agg(json_build_array(p.name, p.display_name)"  # noqa: S608
            " ORDER BY p.display_name, p.name) FROM federation_providers p"
            f" WHERE p.enabled = {enabled}"
        )
    return (
        "SELECT json_group_array(json_array(p.name, p.display_name)) FROM"  # noqa: S608
        " (SELECT name, display_name FROM federation_providers"
        f" WHERE enabled = {enabled} ORDER BY display_name, name) p"
    )


def _state_sql(postgresql: bool) -> str:
    scopes = "i.request->'scopes'" if postgresql else "json_extract(i.request, '$.scopes')"
    return f"""
SELECT i.id, i.browser_hash, i.client_id, i.request, i.expires_at, i.authenticated,
       {gates_sql(scopes, postgresql=postgresql)}, ({_buttons_sql(postgresql, "$3")})
FROM interactions i
WHERE i.id = $1 AND i.expires_at > $2
"""  # noqa: S608


_STATE = {True: _state_sql(True), False: _state_sql(False)}
# Issue #8: /authorize shows the login page itself, so the interaction is stored and the
# login buttons read in one round trip on PostgreSQL.
_ADD_PG = f"""
WITH added AS ({_INSERT})
SELECT ({_buttons_sql(True, "$7")})
"""
_BUTTONS_SQLITE = f"SELECT ({_buttons_sql(False, '$1')})"
_MARK_AUTHENTICATED = "UPDATE interactions SET authenticated = $2 WHERE id = $1"
_DELETE = "DELETE FROM interactions WHERE id = $1 RETURNING 1"


def _from_driver(row: Row) -> Interaction:
    id_, browser_hash, client_id, request, expires_at, authenticated = row[:6]
    return Interaction(
        id_, bytes(browser_hash), client_id, json_value(request), expires_at, bool(authenticated)
    )


def _buttons(value: Any) -> list[tuple[str, str]]:
    return [(name, label) for name, label in json_value(value) or []]


class InteractionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._driver = Driver(engine)

    async def add(self, interaction: Interaction) -> list[tuple[str, str]]:
        """Store the interaction; the login buttons (name, display name) of the enabled
        upstream providers, read in the same round trip, for a login page."""
        values = (
            interaction.id,
            interaction.browser_hash,
            interaction.client_id,
            json_text(interaction.request),
            interaction.expires_at,
            interaction.authenticated,
        )
        async with self._driver.connection() as conn:
            if conn.postgresql:
                row = await conn.fetchrow(_ADD_PG, *values, True)
            else:
                async with conn.transaction():
                    await conn.fetch(_INSERT, *values)
                    row = await conn.fetchrow(_BUTTONS_SQLITE, True)
        return _buttons(row[0] if row else None)

    async def get_live(self, interaction_id: str) -> Interaction | None:
        row = await self._driver.fetchrow(_LIVE, interaction_id, clock.now())
        return _from_driver(row) if row else None

    async def state(self, interaction_id: str) -> InteractionState | None:
        """The live interaction, its scopes' gates and the login buttons: one statement."""
        row = await self._driver.fetchrow(
            _STATE[self._driver.postgresql], interaction_id, clock.now(), True
        )
        if row is None:
            return None
        return InteractionState(_from_driver(row), parse_gates(row[6]), _buttons(row[7]))

    async def mark_authenticated(self, interaction_id: str, writes: Writes | None = None) -> None:
        """With ``writes``: what it holds back is written in the same round trip."""
        async with self._driver.connection() as conn:
            await conn.fetchrow_with(writes, _MARK_AUTHENTICATED, interaction_id, True)

    async def delete(self, interaction_id: str) -> bool:
        """True only for the one call that deleted it (single use, even across nodes)."""
        return await self._driver.fetchrow(_DELETE, interaction_id) is not None

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(interactions).where(interactions.c.expires_at < clock.now())
            )
        return result.rowcount
