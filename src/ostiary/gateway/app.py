"""The gateway as one ASGI application: normalise, match a rule, identify, forward."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from ostiary.gateway.api_mode import BearerAuth
from ostiary.gateway.browser_mode import PREFIX, BrowserAuth, NeedsLogin
from ostiary.gateway.config import GatewayConfig
from ostiary.gateway.headers import upstream_request_headers
from ostiary.gateway.identity import Identity
from ostiary.gateway.proxy import AbortedResponseFilter, Upstream
from ostiary.gateway.responses import HeaderList, Receive, Scope, Send, send_error, send_json
from ostiary.gateway.rules import BadPath, encode_path, normalise_path
from ostiary.gateway.websocket import refusal_channel, relay
from ostiary.resource import (
    DPoPVerifier,
    InsufficientScope,
    InvalidToken,
    ResourceError,
    RevocationFeed,
    RevocationList,
    TimedNonces,
    TokenVerifier,
)
from ostiary.resource.asgi import certificate_reader, scope_url

log = logging.getLogger("ostiary.gateway")


class Gateway:
    """Deny by default: a request that matches no rule is answered 404 and never reaches
    the upstream (see docs/gateway.md for why 404 rather than 403)."""

    def __init__(self, config: GatewayConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.rules = config.rule_set
        # RFC 9449 §7: API mode takes DPoP-bound tokens with their proofs too.
        dpop: DPoPVerifier | None = None
        if config.mode == "api" and config.dpop:
            nonces = TimedNonces(clock=clock) if config.dpop_nonces else None
            dpop = DPoPVerifier(nonces=nonces, clock=clock)
        self.verifier = TokenVerifier(
            config.issuer,
            config.token_audience,
            revocations=RevocationList(stale_after=config.feed_stale_after, clock=clock),
            unknown_kid_interval=min(10.0, config.feed_interval * 2),
            dpop=dpop or False,
            clock=clock,
        )
        # A proof names the URL its client used: the public origin when one is set.
        public = urlsplit(config.public_url) if config.public_url else None
        self.public_origin = f"{public.scheme}://{public.netloc}" if public else None
        # RFC 8705 §3: certificate-bound tokens, with the certificate the TLS proxy passes.
        self.certificates = config.certificate_header
        # The DPoP proof goes with the token it proves: forwarded only when the token is,
        # for an upstream that checks both itself. Otherwise it is of no use there (its
        # jti is spent at the gateway) and the upstream need not see the client's key. The
        # certificate header never goes on: the upstream cannot tell who wrote it.
        strip = () if config.forward_authorization else (b"authorization", b"dpop")
        self.strip = strip + ((self.certificates.name,) if self.certificates else ())
        self.feed = RevocationFeed(self.verifier, interval=config.feed_interval, clock=clock)
        self.upstream = Upstream(
            config.upstream,
            max_body_bytes=config.max_body_bytes,
            connect_timeout=config.connect_timeout,
            read_timeout=config.upstream_timeout,
        )
        self.bearer = BearerAuth(self.verifier)
        self.browser = (
            BrowserAuth(config, self.verifier, clock=clock) if config.mode == "browser" else None
        )
        self._feed_task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        server_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, AbortedResponseFilter) for f in server_log.filters):
            server_log.addFilter(AbortedResponseFilter())
        if self.config.revocation_feed and self.rules.needs_identity:
            try:
                await self.feed.poll()
            except (InvalidToken, httpx.HTTPError) as exc:
                log.warning("first revocation feed poll failed, retrying: %s", exc)
            self._feed_task = asyncio.create_task(self.feed.run())

    async def shutdown(self) -> None:
        if self._feed_task is not None:
            self._feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed_task
        await self.upstream.aclose()
        await self.verifier.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] in ("http", "websocket"):
            await self._request(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = scope["type"] == "websocket"
        # A refused WebSocket handshake gets the same HTTP answer as any request where the
        # server supports it (ASGI "websocket.http.response"), else a 403.
        reply = refusal_channel(scope, send) if websocket else send
        method = "GET" if websocket else scope["method"]
        headers = [(name.lower(), value) for name, value in scope.get("headers", [])]
        raw = scope.get("raw_path") or scope["path"].encode()
        try:
            path = normalise_path(raw.split(b"?", 1)[0])
        except BadPath as exc:
            await send_error(reply, 400, "invalid_request", str(exc))
            return
        query: bytes = scope.get("query_string", b"")
        if self.browser is not None and path.startswith(PREFIX) and not websocket:
            await self.browser.handle(method, path, query, headers, receive, send)
            return
        rule = self.rules.match(method, path)
        if rule is None:
            await send_error(reply, 404, "not_found", "no route")
            return
        identity: Identity | None = None
        cookies: HeaderList = []
        if not rule.public:
            try:
                if self.browser is not None:
                    identity, cookies = await self.browser.identify(headers, rule)
                else:
                    identity = await self.bearer.identify(
                        headers,
                        rule,
                        method=method,
                        url=lambda: scope_url(
                            scope, self.public_origin, self.config.trust_forwarded
                        ),
                        certificate=certificate_reader(self.certificates, scope),
                    )
                    proof = identity.claims.dpop
                    if proof is not None and proof.next_nonce:
                        # RFC 9449 §9: the client's next proof should carry the new nonce.
                        cookies.append((b"dpop-nonce", proof.next_nonce.encode()))
            except NeedsLogin:
                assert self.browser is not None
                if websocket:
                    await send_error(reply, 401, "login_required", "sign in first")
                else:
                    back = encode_path(path) + ("?" + query.decode("latin-1") if query else "")
                    await self.browser.refuse(send, method, back, headers)
                return
            except ResourceError as error:
                await self._challenge(reply, error)
                return
        forward_headers = upstream_request_headers(
            headers,
            client_ip=(scope.get("client") or (None,))[0],
            scheme=scope.get("scheme", "http"),
            trust_forwarded=self.config.trust_forwarded,
            strip=self.strip,
            identity=identity.headers() if identity else None,
            drop_cookies=(self.browser.cookie_prefix,) if self.browser else (),
        )
        if self.config.preserve_host:
            host = [value for name, value in headers if name == b"host"]
            forward_headers += [(b"host", host[0])] if host else []
        target = encode_path(path)
        if websocket:
            base = self.upstream.base_url.replace("http", "ws", 1)
            url = base + target + ("?" + query.decode("latin-1") if query else "")
            timeout = self.config.connect_timeout
            await relay(scope, receive, send, reply, url, forward_headers, timeout)
            return
        # RFC 9112 §6.1: a request has content when it says so by length or chunking.
        has_body = any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)
        await self.upstream.forward(
            method, target, query, forward_headers, receive, send, cookies, has_body=has_body
        )

    async def _challenge(self, send: Send, error: ResourceError) -> None:
        # RFC 6750 §3, RFC 9449 §7.1: 401 and 403 alike carry the challenge(s), and a
        # use_dpop_nonce answer its DPoP-Nonce.
        if self.browser is not None and isinstance(error, InsufficientScope):
            await send_json(send, 403, error.body())
            return
        headers = error.headers(self.config.realm, self.verifier.dpop_algs)
        await send_json(
            send,
            error.status,
            error.body() or {"error_description": "an access token is required"},
            [(name.lower().encode(), value.encode("latin-1")) for name, value in headers],
        )
