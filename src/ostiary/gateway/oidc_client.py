"""The gateway as an OpenID Connect relying party: a confidential client using the
authorization-code flow with PKCE (OIDC Core §3.1, RFC 7636), client_secret_basic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from ostiary.resource import InvalidToken, TokenVerifier

ID_TOKEN_TYP = frozenset({"JWT"})
LOGOUT_TYP = frozenset({"logout+jwt"})
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LoginFailed(Exception):
    """The login could not be completed; the message is safe to show."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_at: int
    refresh_token: str | None
    id_token: str | None


class OidcClient:
    def __init__(
        self,
        verifier: TokenVerifier,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scope: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.client_id = client_id
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self.redirect_uri = redirect_uri
        self.scope = scope
        self._clock = clock

    async def endpoint(self, name: str) -> str:
        try:
            value = (await self.verifier.metadata()).get(name)
        except InvalidToken:
            raise LoginFailed("the identity provider cannot be reached") from None
        if not isinstance(value, str):
            raise LoginFailed(f"the identity provider publishes no {name}")
        return value

    async def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "nonce": nonce,
            # RFC 7636 §4.3 / RFC 9700 §2.1.1: PKCE even for a confidential client.
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{await self.endpoint('authorization_endpoint')}?{urlencode(params)}"

    async def redeem(self, code: str, code_verifier: str) -> TokenSet:
        """RFC 6749 §4.1.3, with the PKCE verifier (RFC 7636 §4.5)."""
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        """RFC 6749 §6."""
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token(self, form: dict[str, str]) -> TokenSet:
        endpoint = await self.endpoint("token_endpoint")
        try:
            response = await self.verifier.http.post(endpoint, data=form, auth=self._auth)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            raise LoginFailed("the token endpoint could not be reached") from None
        if response.status_code != 200 or not isinstance(body, dict):
            raise LoginFailed("the identity provider refused the grant")
        access, expires_in = body.get("access_token"), body.get("expires_in")
        # RFC 6749 §5.1: access_token and token_type are required; we need the lifetime too.
        if not isinstance(access, str) or str(body.get("token_type")).lower() != "bearer":
            raise LoginFailed("the token response is malformed")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 60
        refresh, id_token = body.get("refresh_token"), body.get("id_token")
        return TokenSet(
            access,
            int(self._clock()) + lifetime,
            refresh if isinstance(refresh, str) else None,
            id_token if isinstance(id_token, str) else None,
        )

    async def id_token_claims(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """OIDC Core §3.1.3.7: signature, iss, aud, azp, exp, iat, nonce."""
        try:
            claims = await self.verifier.verify_signed(id_token, ID_TOKEN_TYP)
        except InvalidToken as exc:
            raise LoginFailed(f"the ID token is not valid: {exc.description}") from None
        self._issued_to_us(claims, "ID token")
        # §3.1.3.7 (11): the nonce MUST equal the one sent in the authentication request.
        if nonce is not None and claims.get("nonce") != nonce:
            raise LoginFailed("the ID token's nonce does not match")
        return claims

    async def logout_claims(self, logout_token: str) -> dict[str, Any]:
        """Back-Channel Logout 1.0 §2.6 steps 3-8 (step 9, replay, is the caller's)."""
        try:
            claims = await self.verifier.verify_signed(logout_token, LOGOUT_TYP)
        except InvalidToken as exc:
            raise LoginFailed(f"the logout token is not valid: {exc.description}") from None
        self._issued_to_us(claims, "logout token")
        if not isinstance(claims.get("jti"), str):
            raise LoginFailed("the logout token has no jti")
        events = claims.get("events")
        # §2.6 step 5: the events claim holds the back-channel logout member, an object.
        if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
            raise LoginFailed("the logout token has no back-channel logout event")
        # §2.6 steps 6-7: a sub or a sid; never a nonce.
        if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
            raise LoginFailed("the logout token names neither sub nor sid")
        if "nonce" in claims:
            raise LoginFailed("a logout token must not contain a nonce")
        return claims

    def _issued_to_us(self, claims: dict[str, Any], what: str) -> None:
        if claims.get("iss") != self.verifier.issuer:
            raise LoginFailed(f"the {what} comes from another issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.client_id not in audiences:
            raise LoginFailed(f"the {what} is for another client")
        # OIDC Core §3.1.3.7 (4-5): with several audiences, azp must be us.
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise LoginFailed(f"the {what} is for another party")
        now, leeway = self._clock(), self.verifier.leeway
        for name in ("iat", "exp"):
            if not isinstance(claims.get(name), int | float) or isinstance(claims[name], bool):
                raise LoginFailed(f"the {what} has no {name}")
        if claims["exp"] <= now - leeway:
            raise LoginFailed(f"the {what} has expired")
        if claims["iat"] > now + leeway:
            raise LoginFailed(f"the {what} was issued in the future")

    async def end_session_url(self, id_token: str | None, post_logout: str | None) -> str | None:
        """RP-Initiated Logout 1.0 §2: the end_session_endpoint with hint and client_id."""
        try:
            endpoint = await self.endpoint("end_session_endpoint")
        except LoginFailed:
            return None
        params = {"client_id": self.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        if post_logout:
            params["post_logout_redirect_uri"] = post_logout
        return f"{endpoint}?{urlencode(params)}"
