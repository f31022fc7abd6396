"""Browser mode: login through Ostiary (code + PKCE), an encrypted session cookie,
transparent refresh, RP-initiated and back-channel logout, all under /.ostiary/."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from ostiary.gateway.config import GatewayConfig
from ostiary.gateway.headers import Headers, header
from ostiary.gateway.identity import Identity, authorise
from ostiary.gateway.oidc_client import LoginFailed, OidcClient
from ostiary.gateway.responses import HeaderList, Receive, Send, redirect, send_bytes, send_error
from ostiary.gateway.rules import BadPath, Rule, encode_path, normalise_path
from ostiary.gateway.session_cookie import (
    MAX_COOKIE_BYTES,
    CookieError,
    CookieSealer,
    clear_cookie,
    read_cookies,
    set_cookie,
)
from ostiary.gateway.sessions import EndedSessions, Session
from ostiary.resource import InvalidToken, TokenVerifier

PREFIX = "/.ostiary/"
FLOW_TTL = 600
MAX_PENDING_LOGINS = 4  # logins in flight per browser (tabs); the oldest beyond are dropped
MAX_FORM_BYTES = 64 * 1024
log = logging.getLogger("ostiary.gateway")


class NeedsLogin(Exception):
    pass


def same_origin_path(value: str | None) -> str | None:
    """A path on this gateway to return to after login, or None: never another origin
    (no scheme, no "//host", no backslash tricks, nothing the path rules would refuse)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if len(value) > 2048 or any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    try:
        path = normalise_path(parts.path.encode())
    except BadPath:
        return None
    return encode_path(path) + (f"?{parts.query}" if parts.query else "")


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class BrowserAuth:
    def __init__(
        self,
        config: GatewayConfig,
        verifier: TokenVerifier,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert config.client_id and config.client_secret and config.cookie_secrets
        self.config = config
        self.verifier = verifier
        self.secure = config.base_url.startswith("https://")
        # RFC 6265bis §4.1.3.2: __Host- cookies are Secure, host-only and Path=/.
        prefix = "__Host-" if self.secure else ""
        self.cookie_prefix = f"{prefix}ostiary_gw_"
        self.session_cookie = f"{prefix}ostiary_gw_session"
        # One login cookie per state, so logins started in two tabs do not clobber each other.
        self.flow_prefix = f"{prefix}ostiary_gw_flow_"
        self.sealer = CookieSealer(config.cookie_secrets, clock=clock)
        self.client = OidcClient(
            verifier,
            config.client_id,
            config.client_secret,
            config.base_url + PREFIX + "callback",
            config.scope,
            clock=clock,
        )
        self.ended = EndedSessions(clock=clock)
        self._clock = clock

    def flow_cookie(self, state: str) -> str:
        return self.flow_prefix + hashlib.sha256(state.encode()).hexdigest()[:16]

    # -- requests for the upstream --------------------------------------------------

    async def identify(self, headers: Headers, rule: Rule) -> tuple[Identity, HeaderList]:
        """The session's identity and any Set-Cookie to send with the response; raises
        NeedsLogin, or InsufficientScope when the session lacks what the rule names."""
        cookies = read_cookies("; ".join(header(headers, b"cookie")))
        value = cookies.get(self.session_cookie)
        if not value:
            raise NeedsLogin()
        try:
            payload, stale = self.sealer.unseal(self.session_cookie, value)
            session = Session.of(payload)
        except CookieError:
            session, stale = None, False
        if session is None or self.ended.ended(session):
            raise NeedsLogin()
        if self.verifier.revocations.reason(session.as_claims()) is not None:
            raise NeedsLogin()
        set_cookies: HeaderList = []
        if session.expires_at - self._clock() <= self.config.refresh_before:
            session = await self._refresh(session)
            set_cookies.append(self._session_cookie(session))
        elif stale:
            # Sealed under an older secret: re-seal under the current one (rotation).
            set_cookies.append(self._session_cookie(session))
        try:
            claims = await self.verifier.verify(session.access_token)
        except InvalidToken:
            raise NeedsLogin() from None
        authorise(rule, claims)
        return Identity(claims, session.profile), set_cookies

    async def _refresh(self, session: Session) -> Session:
        if session.refresh_token is None:
            raise NeedsLogin()
        try:
            tokens = await self.client.refresh(session.refresh_token)
        except LoginFailed:
            raise NeedsLogin() from None
        return session.refreshed(tokens)

    def _session_cookie(self, session: Session) -> tuple[bytes, bytes]:
        ttl = max(1, session.login_at + self.config.session_ttl - int(self._clock()))
        value = self.sealer.seal(self.session_cookie, session.payload(), ttl)
        if len(value) > MAX_COOKIE_BYTES:
            # Without the ID token, logout sends client_id instead of id_token_hint.
            smaller = Session(**{**session.payload(), "id_token": None})
            value = self.sealer.seal(self.session_cookie, smaller.payload(), ttl)
        return set_cookie(self.session_cookie, value, max_age=ttl, secure=self.secure)

    async def start_login(self, send: Send, return_to: str, headers: Headers) -> None:
        """OIDC Core §3.1.2.1: to the authorization endpoint, state and nonce bound to a
        short-lived encrypted cookie (named after the state) with the PKCE verifier."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        code_verifier = secrets.token_urlsafe(48)
        try:
            location = await self.client.authorization_url(state, nonce, _challenge(code_verifier))
        except LoginFailed as exc:
            await send_error(send, 502, "login_unavailable", str(exc))
            return
        flow = {
            "state": state,
            "nonce": nonce,
            "verifier": code_verifier,
            "return_to": return_to,
            "at": self._clock(),  # orders pending logins, oldest dropped first
        }
        name = self.flow_cookie(state)
        value = self.sealer.seal(name, flow, FLOW_TTL)
        cookie = set_cookie(name, value, max_age=FLOW_TTL, secure=self.secure)
        await redirect(send, location, [*self._oldest_flows(headers), cookie])

    def _oldest_flows(self, headers: Headers) -> HeaderList:
        """Clear the oldest pending logins so at most MAX_PENDING_LOGINS remain."""
        cookies = read_cookies("; ".join(header(headers, b"cookie")))
        pending: list[tuple[float, str]] = []
        for name, value in cookies.items():
            if name.startswith(self.flow_prefix):
                try:
                    at = self.sealer.open(name, value).get("at")
                except CookieError:
                    at = None  # expired or foreign: dropped first
                pending.append((at if isinstance(at, float | int) else 0.0, name))
        pending.sort()
        drop = pending[: max(0, len(pending) - MAX_PENDING_LOGINS + 1)]
        return [clear_cookie(name, secure=self.secure) for _, name in drop]

    async def refuse(self, send: Send, method: str, return_to: str, headers: Headers) -> None:
        """No session: a navigation is sent to log in, anything else gets 401."""
        if method in ("GET", "HEAD"):
            await self.start_login(send, return_to, headers)
        else:
            await send_error(send, 401, "login_required", "sign in first")

    # -- the gateway's own endpoints ---------------------------------------------------

    async def handle(
        self, method: str, path: str, query: bytes, headers: Headers, receive: Receive, send: Send
    ) -> None:
        params = {k: v for k, v in parse_qs(query.decode("latin-1")).items()}
        name = path[len(PREFIX) :]
        if name == "callback" and method == "GET":
            await self.callback(params, headers, send)
        elif name == "login" and method == "GET":
            await self.start_login(send, same_origin_path(_one(params, "next")) or "/", headers)
        elif name == "logout" and method in ("GET", "POST"):
            await self.logout(headers, send)
        elif name == "backchannel-logout" and method == "POST":
            await self.backchannel(headers, receive, send)
        else:
            await send_error(send, 404, "not_found", "no such gateway endpoint")

    async def callback(self, params: dict[str, list[str]], headers: Headers, send: Send) -> None:
        """OIDC Core §3.1.2.5-§3.1.3.7: check state, redeem the code, check the ID token."""
        cookies = read_cookies("; ".join(header(headers, b"cookie")))
        state = _one(params, "state") or ""
        name = self.flow_cookie(state)
        clear = clear_cookie(name, secure=self.secure)
        try:
            flow = self.sealer.open(name, cookies.get(name, ""))
        except CookieError:
            pending = any(cookie.startswith(self.flow_prefix) for cookie in cookies)
            # RFC 6749 §10.12: the state must be one bound to this browser.
            problem = "state does not match" if pending else "no login in progress"
            await send_error(send, 400, "invalid_request", problem, [clear])
            return
        if not hmac.compare_digest(state.encode(), str(flow.get("state", "")).encode()):
            await send_error(send, 400, "invalid_request", "state does not match", [clear])
            return
        issuer = _one(params, "iss")
        # RFC 9207 §2.4: when iss is present it must be our issuer (mix-up defence).
        if issuer is not None and issuer != self.verifier.issuer:
            await send_error(send, 400, "invalid_request", "response from another issuer", [clear])
            return
        if _one(params, "error") is not None or _one(params, "code") is None:
            error = _one(params, "error") or "invalid_request"
            await send_error(send, 400, "login_failed", f"the login failed: {error}"[:200], [clear])
            return
        try:
            tokens = await self.client.redeem(_one(params, "code") or "", str(flow["verifier"]))
            if tokens.id_token is None:
                raise LoginFailed("no ID token in the token response")
            id_claims = await self.client.id_token_claims(tokens.id_token, str(flow["nonce"]))
        except LoginFailed as exc:
            await send_error(send, 400, "login_failed", str(exc), [clear])
            return
        session = Session.start(tokens, id_claims, self._clock())
        target = same_origin_path(str(flow.get("return_to"))) or "/"
        await redirect(send, target, [clear, self._session_cookie(session)])

    async def logout(self, headers: Headers, send: Send) -> None:
        """RP-Initiated Logout 1.0 §2: forget the session here, then end it at the OP."""
        cookies = read_cookies("; ".join(header(headers, b"cookie")))
        id_token = None
        try:
            session = Session.of(
                self.sealer.open(self.session_cookie, cookies[self.session_cookie])
            )
            id_token = session.id_token if session else None
        except (KeyError, CookieError):
            pass
        url = await self.client.end_session_url(id_token, self.config.post_logout_redirect_uri)
        await redirect(send, url or "/", [clear_cookie(self.session_cookie, secure=self.secure)])

    async def backchannel(self, headers: Headers, receive: Receive, send: Send) -> None:
        """Back-Channel Logout 1.0 §2.5-§2.8: validate the logout token, end the sessions."""
        content_type = (header(headers, b"content-type") or [""])[0].split(";")[0].strip()
        body = await _read_body(receive, MAX_FORM_BYTES)
        if content_type.lower() != "application/x-www-form-urlencoded" or body is None:
            await send_error(send, 400, "invalid_request", "expected a form with logout_token")
            return
        form = parse_qs(body.decode("latin-1"))
        tokens = form.get("logout_token", [])
        if len(tokens) != 1:
            await send_error(send, 400, "invalid_request", "exactly one logout_token is required")
            return
        try:
            claims = await self.client.logout_claims(tokens[0])
            # §2.6 step 9 (optional): a logout token is used once.
            if not self.ended.first_use(claims["jti"], float(claims["exp"])):
                raise LoginFailed("the logout token was already used")
        except LoginFailed as exc:
            await send_error(send, 400, "invalid_request", str(exc))
            return
        sid, sub = claims.get("sid"), claims.get("sub")
        self.ended.end(
            sid=sid if isinstance(sid, str) else None, sub=sub if isinstance(sub, str) else None
        )
        log.info("back-channel logout ended a session")
        # §2.8: 200 on success, and the response must not be cached.
        await send_bytes(send, 200, b"", b"text/plain")


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values and len(values) == 1 else None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return body
