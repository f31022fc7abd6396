"""Revocations a resource server must honour although the signature is good, and the
poller that learns them from Ostiary's revocation feed (docs/revocation-feed.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ostiary.resource.errors import InvalidToken

if TYPE_CHECKING:
    from ostiary.resource.verifier import TokenVerifier

FEED_TYP = frozenset({"revocation-feed+jwt"})
log = logging.getLogger("ostiary.resource")


class RevocationList:
    """Revoked jtis and sids, and cut-offs by subject and client (tokens issued before
    ``not_before`` are dead). In memory; consulted on every verification.

    With ``stale_after`` set, every token is refused once the list has not been brought
    up to date (``mark_current``) for that many seconds: failing closed when the feed is
    unreachable, as docs/revocation-feed.md advises."""

    def __init__(
        self, *, stale_after: float | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self.stale_after = stale_after
        self._current_at: float | None = None
        self._jtis: dict[str, float | None] = {}
        self._sids: dict[str, float | None] = {}
        self._subjects: dict[str, int] = {}
        self._clients: dict[str, int] = {}

    def revoke_jti(self, jti: str, expires_at: float | None = None) -> None:
        self._jtis[jti] = expires_at

    def revoke_sid(self, sid: str, expires_at: float | None = None) -> None:
        self._sids[sid] = expires_at

    def cut_off_subject(self, sub: str, not_before: int) -> None:
        self._subjects[sub] = max(not_before, self._subjects.get(sub, not_before))

    def cut_off_client(self, client_id: str, not_before: int) -> None:
        self._clients[client_id] = max(not_before, self._clients.get(client_id, not_before))

    def apply(self, event: Mapping[str, Any]) -> None:
        """One feed event {kind: jti|sub|sid|client, value, not_before, expires_at};
        idempotent, so a repeated page is harmless."""
        kind, value = event.get("kind"), event.get("value")
        if not isinstance(value, str):
            return
        expires_at = event.get("expires_at")
        expires = expires_at if isinstance(expires_at, int | float) else None
        not_before = event.get("not_before")
        if kind == "jti":
            self.revoke_jti(value, expires)
        elif kind == "sid":
            self.revoke_sid(value, expires)
        elif kind == "sub" and isinstance(not_before, int):
            self.cut_off_subject(value, not_before)
        elif kind == "client" and isinstance(not_before, int):
            self.cut_off_client(value, not_before)

    def mark_current(self) -> None:
        self._current_at = self._clock()

    def prune(self) -> None:
        """Forget jti/sid entries whose tokens have expired anyway."""
        now = self._clock()
        for table in (self._jtis, self._sids):
            for key in [k for k, until in table.items() if until is not None and until < now]:
                del table[key]

    def reason(self, claims: Mapping[str, Any]) -> str | None:
        """Why this token must be refused, or None."""
        if self.stale_after is not None and (
            self._current_at is None or self._clock() - self._current_at > self.stale_after
        ):
            return "revocation data is not current"
        if claims.get("jti") in self._jtis:
            return "the token was revoked"
        if claims.get("sid") in self._sids:
            return "the session has ended"
        iat = claims.get("iat")
        issued = iat if isinstance(iat, int | float) else 0
        sub_cut = self._subjects.get(claims.get("sub"))  # type: ignore[arg-type]
        if sub_cut is not None and issued < sub_cut:
            return "the subject's tokens were revoked"
        client_cut = self._clients.get(claims.get("client_id"))  # type: ignore[arg-type]
        if client_cut is not None and issued < client_cut:
            return "the client's tokens were revoked"
        return None


class RevocationFeed:
    """Polls ``revocation_feed_endpoint`` and applies its events to the verifier's
    RevocationList. ``await feed.poll()`` once at start-up; ``run()`` as a task after."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        endpoint: str | None = None,
        interval: float = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.revocations = verifier.revocations
        self._endpoint = endpoint
        self.interval = interval
        self._clock = clock
        self.cursor = 0

    async def poll(self) -> int:
        """Read pages until ``more`` is false; returns the number of events applied."""
        endpoint = self._endpoint or (await self.verifier.metadata()).get(
            "revocation_feed_endpoint"
        )
        if not isinstance(endpoint, str):
            raise InvalidToken("the issuer publishes no revocation_feed_endpoint")
        applied, more = 0, True
        while more:
            response = await self.verifier.http.get(endpoint, params={"after": self.cursor})
            response.raise_for_status()
            page = await self._checked(response.text)
            events = page.get("events")
            cursor = page.get("cursor")
            if not isinstance(events, list) or not isinstance(cursor, int):
                raise InvalidToken("malformed revocation feed page")
            for event in events:
                if isinstance(event, dict):
                    self.revocations.apply(event)
            applied += len(events)
            # Follow `more` only while the cursor advances, so a misbehaving feed cannot loop us.
            more = page.get("more") is True and cursor > self.cursor
            self.cursor = max(self.cursor, cursor)
        self.revocations.prune()
        self.revocations.mark_current()
        return applied

    async def _checked(self, token: str) -> dict[str, Any]:
        # The feed is a security input like the JWKS: typ, alg, kid, signature, iss, exp.
        claims = await self.verifier.verify_signed(token.strip(), FEED_TYP)
        if claims.get("iss") != self.verifier.issuer:
            raise InvalidToken("revocation feed from the wrong issuer")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock() - self.verifier.leeway:
            raise InvalidToken("revocation feed page has expired")
        return claims

    async def run(self) -> None:
        """Poll forever; failures are logged and retried (the list's ``stale_after``
        decides how long tokens are still accepted meanwhile)."""
        while True:
            try:
                await self.poll()
            except (InvalidToken, httpx.HTTPError) as exc:
                log.warning("revocation feed poll failed: %s", exc)
            await asyncio.sleep(self.interval)
