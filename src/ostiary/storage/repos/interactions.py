"""Pending authorization requests waiting for login or consent, bound to one browser.

Every step of a browser login reads or writes its interaction, so those statements run on
the driver connection (``_driver``, the cheaper path); the purge stays on SQLAlchemy Core. The
interaction pages read the interaction with what they show or check next in one statement
(``state``): the role gates of its scopes and the sign-in buttons of the enabled upstream
providers, read at the same moment as the interaction, not from a cache.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary import clock
from ostiary.domain.interactions import Interaction, InteractionState, LoginReads, MfaReads
from ostiary.storage.repos import _mfa_sql
from ostiary.storage.repos._driver import Driver, Row, json_text, json_value
from ostiary.storage.repos._gates import gates_sql, parse_gates
from ostiary.storage.repos._held_back import holding
from ostiary.storage.repos.throttles import throttle_state
from ostiary.storage.repos.users import USER_COLUMNS, user_from_driver
from ostiary.storage.tables import interactions

_INSERT = (
    "INSERT INTO interactions (id, browser_hash, client_id, request, expires_at, authenticated)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_LIVE = (
    "SELECT id, browser_hash, client_id, request, expires_at, authenticated,"
    " pending_user_id, pending FROM interactions WHERE id = $1 AND expires_at > $2"
)


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
       i.pending_user_id, i.pending,
       {gates_sql(scopes, postgresql=postgresql)}, ({_buttons_sql(postgresql, "$3")})
FROM interactions i
WHERE i.id = $1 AND i.expires_at > $2
"""  # noqa: S608


_STATE = {True: _state_sql(True), False: _state_sql(False)}


def _login_sql(postgresql: bool) -> str:
    """The interaction's state, the account by username with what its sign-in owes (its
    confirmed factors' kinds, whether its roles or groups require MFA) and the throttle
    records of the keys, as one row; each part comes back empty (NULLs) when it finds
    nothing."""
    if postgresql:
        scopes = "i.request->'scopes'"
        keys = "SELECT json_array_elements_text($4::json)"
        records = "json_agg(json_build_array(t.key, t.locked_until))"
    else:
        scopes = "json_extract(i.request, '$.scopes')"
        keys = "SELECT value FROM json_each($4)"
        records = "json_group_array(json_array(t.key, t.locked_until))"
    kinds = "json_agg(f.kind)" if postgresql else "json_group_array(f.kind)"
    account = "SELECT s2.user_id FROM scim_users s2 WHERE s2.user_name_ci = $5"
    return f"""
{_mfa_sql.member_of(account)}
SELECT i.id, i.browser_hash, i.client_id, i.request, i.expires_at, i.authenticated,
       i.pending_user_id, i.pending,
       {gates_sql(scopes, postgresql=postgresql)}, ({_buttons_sql(postgresql, "$3")}),
       {USER_COLUMNS},
       (SELECT {records} FROM throttles t WHERE t.key IN ({keys})),
       (SELECT {kinds} FROM mfa_factors f WHERE f.user_id = u.id AND f.confirmed = $3),
       {_mfa_sql.required("u.id", "$3")}
FROM (SELECT 1) AS one
LEFT JOIN interactions i ON i.id = $1 AND i.expires_at > $2
LEFT JOIN scim_users s ON s.user_name_ci = $5
LEFT JOIN users u ON u.id = s.user_id
"""  # noqa: S608


_LOGIN = {True: _login_sql(True), False: _login_sql(False)}
# /authorize shows the login page itself, so the interaction is stored and the
# login buttons read in one round trip on PostgreSQL.
_ADD_PG = f"""
WITH added AS ({_INSERT})
SELECT ({_buttons_sql(True, "$7")})
"""
_BUTTONS_SQLITE = f"SELECT ({_buttons_sql(False, '$1')})"
_MARK_AUTHENTICATED = (
    "UPDATE interactions SET authenticated = $2, pending_user_id = NULL, pending = NULL"
    " WHERE id = $1"
)
_SET_PENDING = "UPDATE interactions SET pending_user_id = $2, pending = $3 WHERE id = $1"
_TAKE_CHALLENGE = {
    True: "UPDATE interactions SET pending = $3 WHERE id = $1 AND expires_at > $4"
    " AND pending->>'challenge' = $2 RETURNING 1",
    False: "UPDATE interactions SET pending = $3 WHERE id = $1 AND expires_at > $4"
    " AND json_extract(pending, '$.challenge') = $2 RETURNING 1",
}
_DELETE = "DELETE FROM interactions WHERE id = $1 RETURNING 1"


def _from_driver(row: Row) -> Interaction:
    id_, browser_hash, client_id, request, expires_at, authenticated, user_id, pending = row[:8]
    return Interaction(
        id_,
        bytes(browser_hash),
        client_id,
        json_value(request),
        expires_at,
        bool(authenticated),
        user_id,
        json_value(pending) if pending is not None else None,
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
        return InteractionState(_from_driver(row), parse_gates(row[8]), _buttons(row[9]))

    async def login_state(
        self, interaction_id: str, keys: list[str], username: str | None
    ) -> LoginReads:
        """``state``, the throttle state of ``keys`` and the account whose comparison form
        (``identifiers.username_key``) is ``username`` (not looked up when None): one
        statement instead of three."""
        row = await self._driver.fetchrow(
            _LOGIN[self._driver.postgresql],
            interaction_id,
            clock.now(),
            True,
            json_text(keys),
            username,
        )
        assert row is not None  # one row, always
        state = None
        if row[0] is not None:
            state = InteractionState(_from_driver(row), parse_gates(row[8]), _buttons(row[9]))
        account = user_from_driver(row[10:21]) if row[10] is not None else None
        mfa = None
        if account is not None:
            kinds = tuple(k for k in json_value(row[22]) or [] if k is not None)
            mfa = MfaReads(kinds, bool(row[23]))
        return LoginReads(state, throttle_state(json_value(row[21]) or []), account, mfa)

    async def set_pending(
        self, interaction_id: str, user_id: str | None, pending: dict[str, Any] | None
    ) -> None:
        """Who owes a second factor here and its state (None, None: nobody)."""
        value = json_text(pending) if pending is not None else None
        async with self._driver.connection() as conn:
            await conn.fetchrow_with(holding(), _SET_PENDING, interaction_id, user_id, value)

    async def take_challenge(
        self, interaction_id: str, challenge: str, rest: dict[str, Any] | None
    ) -> bool:
        """Use the pending state's WebAuthn challenge once: True for the one call that
        found it there (the state becomes ``rest``), even when two arrive at once."""
        value = json_text(rest) if rest is not None else None
        sql = _TAKE_CHALLENGE[self._driver.postgresql]
        taken = await self._driver.fetchrow(sql, interaction_id, challenge, value, clock.now())
        return taken is not None

    async def mark_authenticated(self, interaction_id: str) -> None:
        """Signed in here (whatever was pending is done). In a unit of work, what it
        holds back is written in the same round trip."""
        async with self._driver.connection() as conn:
            await conn.fetchrow_with(holding(), _MARK_AUTHENTICATED, interaction_id, True)

    async def delete(self, interaction_id: str) -> bool:
        """True only for the one call that deleted it (single use, even across nodes)."""
        return await self._driver.fetchrow(_DELETE, interaction_id) is not None

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(interactions).where(interactions.c.expires_at < clock.now())
            )
        return result.rowcount
