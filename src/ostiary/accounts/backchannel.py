"""OpenID Connect Back-Channel Logout 1.0: logout tokens POSTed to each client."""

from __future__ import annotations

import asyncio
import logging
import secrets

import httpx

from ostiary import clock
from ostiary.accounts.deps import SessionEnding
from ostiary.domain.clients import Client
from ostiary.tokens import signed
from ostiary.tokens.id_token import alg_for

log = logging.getLogger("ostiary.logout")

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP = "logout+jwt"
LOGOUT_TOKEN_TTL = 120


async def logout_token(services: SessionEnding, client: Client, sub: str, sid: str | None) -> str:
    """Back-Channel Logout §2.4: iss, aud, iat, exp, jti, events, sub and sid; no nonce."""
    now = clock.now()
    claims = {
        "iss": services.settings.issuer,
        "sub": sub,
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL,
        "jti": secrets.token_urlsafe(16),
        "events": {LOGOUT_EVENT: {}},
    }
    if sid is not None:
        claims["sid"] = sid
    keys = await services.keys.fresh()
    # §2.4: explicitly typed, so it cannot pass for an ID token.
    return signed.sign(keys, alg_for(client), claims, LOGOUT_TOKEN_TYP)


async def deliver(services: SessionEnding, client: Client, sub: str, sid: str | None) -> bool:
    """POST the logout token (§2.5), retrying with backoff; record a final failure."""
    uri = client.backchannel_logout_uri
    if uri is None:
        return True
    settings = services.settings.oidc
    token = await logout_token(services, client, sub, sid)
    error = "not attempted"
    async with httpx.AsyncClient(timeout=settings.backchannel_logout_timeout) as http:
        for attempt in range(settings.backchannel_logout_attempts):
            if attempt:
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))
            try:
                response = await http.post(
                    uri,
                    data={"logout_token": token},
                    headers={"Cache-Control": "no-cache"},
                    follow_redirects=False,
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            # §2.8: the RP answers 200 (204 is common too) when the logout succeeded.
            if response.status_code in (200, 204):
                return True
            error = f"HTTP {response.status_code}"
    log.warning("back-channel logout to client %s failed: %s", client.client_id, error)
    await services.store.logout_failures.add(
        client_id=client.client_id,
        sid=sid,
        sub=sub,
        error=error,
        attempts=settings.backchannel_logout_attempts,
    )
    return False
