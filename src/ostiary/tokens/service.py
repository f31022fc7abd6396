"""The one place that decides what tokens look like: format, lifetime, audience, claims.

Grants ask for tokens here and never sign anything themselves.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ostiary import clock
from ostiary.crypto.tokens import REFRESH_TOKEN_PREFIX, digest, new_secret
from ostiary.domain.clients import Client
from ostiary.domain.repositories import Store
from ostiary.domain.resources import Target
from ostiary.domain.scopes import format_scope
from ostiary.domain.tokens import NewRefreshToken
from ostiary.keys.manager import KeyManager
from ostiary.resource.client_cert import X5T_S256
from ostiary.settings import Settings
from ostiary.tokens import jwt_access


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_at: int
    expires_in: int
    # RFC 9449 §5: "DPoP" for a token bound to the client's DPoP key.
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class Grant:
    """What the resource owner (or, for client credentials, the client) was granted."""

    client: Client
    subject: str
    user_id: str | None
    scopes: frozenset[str]
    auth_time: int | None = None
    # OpenID Connect context, carried from the code to refresh tokens.
    sid: str | None = None
    acr: str | None = None
    amr: list[str] | None = None
    claims: dict[str, Any] | None = None
    # roles / groups (RFC 9068 §2.2.3.1), for clients registered to receive them
    extra: dict[str, Any] | None = None
    # The DPoP key the tokens are bound to (RFC 9449 §6: its JWK SHA-256 thumbprint).
    jkt: str | None = None
    # Or the client certificate (RFC 8705 §3.1: the SHA-256 thumbprint of its DER); the
    # token endpoint never sets both (oauth/certificate_binding.py), and jkt would win.
    x5t: str | None = None
    # The resources the client named (RFC 8707): the access token's audience and scopes;
    # None: the client's default audience and every granted scope.
    target: Target | None = None

    @property
    def access_scopes(self) -> frozenset[str]:
        """The access token's scopes: the grant's, narrowed to what its resources accept
        (RFC 8707 §2.2); the ID token and the refresh token keep ``scopes``."""
        return self.scopes if self.target is None else self.target.scopes

    def refresh_policy(self) -> tuple[bool, str | None]:
        """Whether a refresh token goes with this grant, and the session it is bound to.

        OIDC Core §11: offline_access asks for a refresh token that outlives the session.
        Other refresh tokens are bound to the SSO session and die with it; for OpenID
        requests they are only issued to clients registered for them (as
        node-oidc-provider does), otherwise offline_access is the way to ask.
        """
        if "refresh_token" not in self.client.grant_types:
            return False, None
        if "offline_access" in self.scopes:
            return True, None
        if "openid" in self.scopes and not self.client.session_refresh_tokens:
            return False, None
        return True, self.sid


class TokenService:
    def __init__(self, settings: Settings, store: Store, keys: KeyManager) -> None:
        self._settings = settings
        self._store = store
        self._keys = keys

    def audience(self, client: Client, target: Target | None = None) -> str | list[str]:
        # RFC 8707 §2, RFC 9068 §3: the resources the client asked for are the audience.
        aud = list(target.audience if target is not None else client.audience) or [
            self._settings.tokens.default_audience or self._settings.issuer
        ]
        return aud[0] if len(aud) == 1 else aud

    async def access_token(self, grant: Grant) -> IssuedAccessToken:
        """An RFC 9068 JWT access token."""
        client = grant.client
        ttl = client.access_token_ttl or self._settings.tokens.access_token_ttl
        now = clock.now()
        while client.tokens_valid_after > now:
            # Every token of this client up to this second was just revoked; iat has
            # second precision, so wait for the next second rather than issue a dead token.
            # A loop: the event loop may wake a timer up to its clock resolution early.
            await asyncio.sleep(max(0.001, client.tokens_valid_after - time.time()))
            now = clock.now()
        jti = secrets.token_urlsafe(16)
        claims: dict[str, Any] = {
            "iss": self._settings.issuer,
            "sub": grant.subject,
            "aud": self.audience(client, grant.target),
            "exp": now + ttl,
            "iat": now,
            "jti": jti,
            "client_id": client.client_id,
        }
        if grant.access_scopes:
            claims["scope"] = format_scope(grant.access_scopes)
        if grant.auth_time is not None:
            claims["auth_time"] = grant.auth_time
        # RFC 9068 §2.2.1: how the user authenticated, for a resource server's step-up.
        if grant.acr is not None:
            claims["acr"] = grant.acr
        if grant.amr:
            claims["amr"] = list(grant.amr)
        if grant.sid is not None:
            claims["sid"] = grant.sid
        if grant.extra:
            claims.update(grant.extra)
        if grant.jkt is not None:
            # RFC 9449 §6.1: the token is bound to the proof's key.
            claims["cnf"] = {"jkt": grant.jkt}
        elif grant.x5t is not None:
            # RFC 8705 §3.1: the token is bound to the client's certificate.
            claims["cnf"] = {X5T_S256: grant.x5t}
        userinfo = (grant.claims or {}).get("userinfo")
        if userinfo:
            # OIDC Core §5.5: claims requested for the UserInfo endpoint travel with the token.
            claims["userinfo_claims"] = sorted(userinfo)
        keys = await self._keys.fresh()
        token = jwt_access.encode(keys, self._settings.tokens.access_token_alg, claims)
        token_type = "DPoP" if grant.jkt is not None else "Bearer"
        return IssuedAccessToken(token, jti, now + ttl, ttl, token_type)

    def new_refresh_token(
        self,
        grant: Grant,
        access: IssuedAccessToken,
        *,
        family_id: str | None = None,
        sid: str | None = None,
    ) -> tuple[str, NewRefreshToken]:
        """A refresh token and the row that stores it, for the caller to write (a rotation
        stores it in the same statement that claims the old one)."""
        token = new_secret(REFRESH_TOKEN_PREFIX)
        row = NewRefreshToken(
            token_hash=digest(token),
            family_id=family_id or str(uuid.uuid4()),
            client_id=grant.client.client_id,
            user_id=grant.user_id,
            scopes=sorted(grant.scopes),
            auth_time=grant.auth_time,
            ttl=grant.client.refresh_token_ttl or self._settings.tokens.refresh_token_ttl,
            access_jti=access.jti,
            access_expires_at=access.expires_at,
            sid=sid,
            acr=grant.acr,
            amr=grant.amr,
            claims=grant.claims,
            # RFC 8707 §2.2: the refresh token is bound to every resource of the grant.
            resources=list(grant.target.granted) if grant.target is not None else None,
            # RFC 9449 §5, RFC 8705 §4: a public client's refresh token is bound to its
            # DPoP key or its certificate (a confidential client's is bound to the client
            # by its authentication).
            cnf=_refresh_binding(grant) if grant.client.public else None,
        )
        return token, row


def _refresh_binding(grant: Grant) -> dict[str, str] | None:
    if grant.jkt is not None:
        return {"jkt": grant.jkt}
    if grant.x5t is not None:
        return {X5T_S256: grant.x5t}
    return None


def token_response(
    access: IssuedAccessToken,
    scopes: frozenset[str],
    refresh_token: str | None = None,
    id_token: str | None = None,
) -> dict[str, Any]:
    """RFC 6749 §5.1 successful response body."""
    body: dict[str, Any] = {
        "access_token": access.token,
        "token_type": access.token_type,
        "expires_in": access.expires_in,
    }
    if scopes:
        body["scope"] = format_scope(scopes)
    if refresh_token:
        body["refresh_token"] = refresh_token
    if id_token:
        body["id_token"] = id_token
    return body
