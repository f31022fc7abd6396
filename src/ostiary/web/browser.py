"""Cookies and CSRF tokens for the pages a person sees."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ostiary.crypto.sealing import derive_key
from ostiary.settings import Settings

SESSION_COOKIE = "ost_session"
# RFC 6265 §4.1.1 cookie-octets that no cookie library quotes.
_COOKIE_SAFE = re.compile(r"[A-Za-z0-9_-]+")
BROWSER_COOKIE = "ost_browser"


class Browser:
    """Cookie attributes and CSRF tokens, derived from the settings once."""

    def __init__(self, settings: Settings) -> None:
        self.secure = settings.issuer.startswith("https://")
        self._csrf_key = derive_key(settings.require_secret_key(), "csrf")
        self._session_ttl = settings.sessions.ttl

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        """HttpOnly, SameSite=Lax, Path=/, Secure on an https issuer (RFC 6265 §4.1)."""
        if not _COOKIE_SAFE.fullmatch(value):  # never for our tokens; quoted the long way
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                httponly=True,
                samesite="lax",
                secure=self.secure,
            )
            return
        # Our values are URL-safe tokens, so the header is written as it is (what
        # SimpleCookie, behind Starlette's set_cookie, would write; a login sets two).
        secure = "; Secure" if self.secure else ""
        header = f"{name}={value}; HttpOnly; Max-Age={max_age}; Path=/; SameSite=lax{secure}"
        response.raw_headers.append((b"set-cookie", header.encode("latin-1")))

    def set_session(self, response: Response, token: str) -> None:
        self.set_cookie(response, SESSION_COOKIE, token, self._session_ttl)

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=self.secure, httponly=True)

    @staticmethod
    def browser_id(request: Request) -> str | None:
        return request.cookies.get(BROWSER_COOKIE)

    @staticmethod
    def new_browser_id() -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, interaction_id: str, browser_id: str) -> str:
        message = f"{interaction_id}|{browser_id}".encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()

    def csrf_ok(self, interaction_id: str, browser_id: str, presented: str | None) -> bool:
        if not presented:
            return False
        # Bytes, so a non-ASCII value is a mismatch and not a TypeError (a 500).
        expected = self.csrf_token(interaction_id, browser_id).encode()
        return hmac.compare_digest(expected, presented.encode())
