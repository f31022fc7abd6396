"""Browser sessions (sealed in the cookie) and the logouts the gateway has been told of.

The session itself lives only in the encrypted cookie, so any replica can serve it. What
must be remembered server-side is which sessions have *ended*: back-channel logouts are
kept here, in this process's memory, and the same ends reach every replica through the
revocation feed (Ostiary publishes a sid event when a session ends)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ostiary.gateway.oidc_client import TokenSet

_PROFILE = ("email", "preferred_username", "name")


@dataclass(frozen=True)
class Session:
    sub: str
    sid: str | None
    login_at: int
    access_token: str
    expires_at: int
    refresh_token: str | None
    id_token: str | None
    profile: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, tokens: TokenSet, id_claims: dict[str, Any], now: float) -> Session:
        sid = id_claims.get("sid")
        return cls(
            sub=str(id_claims["sub"]),
            sid=sid if isinstance(sid, str) else None,
            login_at=int(now),
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token,
            profile={k: id_claims[k] for k in _PROFILE if isinstance(id_claims.get(k), str)},
        )

    def refreshed(self, tokens: TokenSet) -> Session:
        # RFC 6749 §6: a new refresh token replaces the old one; otherwise keep it.
        return replace(
            self,
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            refresh_token=tokens.refresh_token or self.refresh_token,
            id_token=tokens.id_token or self.id_token,
        )

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Session | None:
        try:
            values = {name: payload[name] for name in cls.__dataclass_fields__}
            session = cls(**values)
        except (KeyError, TypeError):
            return None
        if not isinstance(session.sub, str) or not isinstance(session.access_token, str):
            return None
        return session

    def as_claims(self) -> dict[str, Any]:
        """The session in the shape the revocation list checks (sid, sub cut-off)."""
        return {"sid": self.sid, "sub": self.sub, "iat": self.login_at}


class EndedSessions:
    """Sessions ended by back-channel logout, and logout-token jtis seen (replay)."""

    def __init__(self, *, clock: Callable[[], float] = time.time, horizon: float = 86_400):
        self._clock = clock
        self._horizon = horizon
        self._sids: dict[str, float] = {}
        self._subjects: dict[str, float] = {}
        self._jtis: dict[str, float] = {}

    def end(self, *, sid: str | None, sub: str | None) -> None:
        now = self._clock()
        if sid is not None:
            self._sids[sid] = now
        elif sub is not None:
            # Back-Channel Logout §2.4: a sub without sid ends all of that user's sessions.
            self._subjects[sub] = now
        self._prune(now)

    def first_use(self, jti: str, until: float) -> bool:
        """False when this logout token was seen before (§2.6 step 9 replay check)."""
        if jti in self._jtis:
            return False
        self._jtis[jti] = until
        return True

    def ended(self, session: Session) -> bool:
        if session.sid is not None and session.sid in self._sids:
            return True
        cut = self._subjects.get(session.sub)
        return cut is not None and session.login_at <= cut

    def ended_count(self) -> int:
        return len(self._sids) + len(self._subjects)

    def _prune(self, now: float) -> None:
        for table in (self._sids, self._subjects):
            for key in [k for k, at in table.items() if at < now - self._horizon]:
                del table[key]
        for key in [k for k, until in self._jtis.items() if until < now]:
            del self._jtis[key]
