"""The console's own session: a sealed cookie naming the admin and the Ostiary session
(``sid``) they signed in with, so ending that session, disabling the user or taking the
role away ends console access on the next request, on every node (nothing is kept in
memory).

The cookie is AES-GCM sealed (``crypto.sealing``) under a purpose key of its own, HttpOnly,
SameSite=Strict, Path=/admin and Secure unless the issuer is a loopback http address.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ostiary import clock
from ostiary.crypto.sealing import Sealer, UnsealError
from ostiary.settings import Settings

COOKIE = "ost_console"
LOGIN_COOKIE = "ost_console_login"
PATH = "/admin"
# A sign-in that takes longer than this starts again.
LOGIN_TTL = 600
# Refresh the cookie's idle clock at most this often, not on every request.
TOUCH_EVERY = 60


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    user_id: str
    sid: str
    csrf: str
    signed_in_at: int
    seen_at: int


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the callback checks: the state, nonce and PKCE verifier of one sign-in."""

    state: str
    nonce: str
    verifier: str
    started_at: int
    back_to: str


class Cookies:
    """Seals, reads and writes the console's two cookies."""

    def __init__(self, settings: Settings) -> None:
        self._sealer = Sealer(settings.require_secret_key(), "admin-console")
        self._idle = settings.admin_console.idle_timeout
        self._max_age = settings.admin_console.max_age
        # The issuer is https, or http on a loopback host (settings check it).
        self.secure = settings.issuer.startswith("https://")
        self.path = urlsplit(settings.issuer).path.rstrip("/") + PATH

    def start(self, response: Response, user_id: str, sid: str) -> ConsoleSession:
        now = clock.now()
        session = ConsoleSession(user_id, sid, secrets.token_urlsafe(32), now, now)
        self._write(response, COOKIE, self._pack(session), self._max_age, "strict")
        return session

    def read(self, request: Request) -> ConsoleSession | None:
        """The session of this request, or None when absent, forged, idle or too old."""
        data = self._open(request.cookies.get(COOKIE))
        if data is None:
            return None
        try:
            session = ConsoleSession(**data)
        except TypeError:
            return None
        now = clock.now()
        if now - session.seen_at >= self._idle or now - session.signed_in_at >= self._max_age:
            return None
        return session

    def touch(self, response: Response, session: ConsoleSession) -> None:
        """Move the idle clock on (at most once a minute)."""
        now = clock.now()
        if now - session.seen_at < TOUCH_EVERY:
            return
        remaining = self._max_age - (now - session.signed_in_at)
        packed = self._pack(replace(session, seen_at=now))
        self._write(response, COOKIE, packed, max(remaining, 1), "strict")

    def end(self, response: Response) -> None:
        self._write(response, COOKIE, "", 0, "strict")

    def begin_login(self, response: Response, back_to: str) -> PendingLogin:
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=secrets.token_urlsafe(48),
            started_at=clock.now(),
            back_to=back_to,
        )
        # Lax: the way back from the authorization endpoint is a redirect the browser
        # follows, which a Strict cookie would not always ride along with.
        self._write(response, LOGIN_COOKIE, self._pack(pending), LOGIN_TTL, "lax")
        return pending

    def pending_login(self, request: Request) -> PendingLogin | None:
        data = self._open(request.cookies.get(LOGIN_COOKIE))
        if data is None:
            return None
        try:
            pending = PendingLogin(**data)
        except TypeError:
            return None
        if clock.now() - pending.started_at >= LOGIN_TTL:
            return None
        return pending

    def end_login(self, response: Response) -> None:
        self._write(response, LOGIN_COOKIE, "", 0, "lax")

    def _pack(self, value: ConsoleSession | PendingLogin) -> str:
        return seal_json(self._sealer, {k: getattr(value, k) for k in value.__slots__})

    def _open(self, cookie: str | None) -> dict[str, Any] | None:
        return open_json(self._sealer, cookie)

    def _write(
        self, response: Response, name: str, value: str, max_age: int, same_site: str
    ) -> None:
        parts = [f"{name}={value}", "HttpOnly", f"Max-Age={max_age}", f"Path={self.path}"]
        parts.append(f"SameSite={same_site.capitalize()}")
        if self.secure:
            parts.append("Secure")
        response.raw_headers.append((b"set-cookie", "; ".join(parts).encode("latin-1")))


def seal_json(sealer: Sealer, data: dict[str, Any]) -> str:
    """``data`` as JSON, sealed, as a cookie value (URL-safe base64 without padding)."""
    return base64.urlsafe_b64encode(sealer.seal(orjson.dumps(data))).decode().rstrip("=")


def open_json(sealer: Sealer, cookie: str | None) -> dict[str, Any] | None:
    """What ``seal_json`` sealed, or None for a value that is absent, too long, forged or
    not an object."""
    if not cookie or len(cookie) > 4096:
        return None
    try:
        sealed = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        data = orjson.loads(sealer.unseal(sealed))
    except (binascii.Error, ValueError, UnsealError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
