"""Any OpenID Provider: everything from discovery, the ID token validated in full."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ostiary.federation import id_token
from ostiary.federation.connectors.base import Callback, Identity, TokenResponse
from ostiary.federation.discovery import Endpoints, endpoints_from, fetch_metadata
from ostiary.federation.errors import upstream_error
from ostiary.federation.http import Upstream
from ostiary.federation.providers import Provider

_MAX_AMR = 10


class OidcConnector:
    preset = "oidc"
    default_scopes: tuple[str, ...] = ("openid", "email", "profile")
    openid = True

    def configure(self, provider: Provider) -> Provider:
        return provider

    def discovery_issuer(self, provider: Provider) -> str:
        """The issuer the discovery document must name (Discovery §4.3)."""
        return provider.issuer

    async def endpoints(self, provider: Provider, upstream: Upstream) -> Endpoints:
        document = await fetch_metadata(upstream, provider.issuer)
        return endpoints_from(document, self.discovery_issuer(provider))

    def authorize_params(self, provider: Provider) -> dict[str, str]:
        return {}

    def issuers(
        self, provider: Provider, endpoints: Endpoints, claims: dict[str, Any]
    ) -> Collection[str]:
        """Which iss values the ID token may carry: exactly the issuer, for most."""
        return {endpoints.issuer}

    def check(self, provider: Provider, claims: dict[str, Any]) -> None:
        """Vendor rules on verified claims (hosted domain, tenant); raise FederationError."""

    async def identity(self, callback: Callback) -> Identity:
        provider, endpoints, tokens = callback.provider, callback.endpoints, callback.tokens
        if not tokens.id_token:
            raise upstream_error("the token response has no id_token", provider.display_name)
        assert endpoints.jwks_uri is not None
        claims = await id_token.verify(
            tokens.id_token,
            keys=callback.upstream.keys_for(endpoints.jwks_uri),
            algorithms=endpoints.id_token_algs,
            client_id=provider.client_id,
            nonce=callback.nonce,
            issuers=lambda verified: self.issuers(provider, endpoints, verified),
            access_token=tokens.access_token,
        )
        self.check(provider, claims)
        if provider.options.get("userinfo") and endpoints.userinfo_endpoint:
            claims = await self._with_userinfo(
                endpoints.userinfo_endpoint, tokens, claims, callback.upstream
            )
        return identity_from_claims(claims)

    async def _with_userinfo(
        self, url: str, tokens: TokenResponse, claims: dict[str, Any], upstream: Upstream
    ) -> dict[str, Any]:
        info = await upstream.get_json(url, {"Authorization": f"Bearer {tokens.access_token}"})
        # Core §5.3.2: the UserInfo sub must be the ID token's, else it is not used.
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise upstream_error("UserInfo sub differs from the ID token's")
        return {**info, **claims}


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    email = claims.get("email")
    verified = claims.get("email_verified")
    amr = claims.get("amr")
    acr = claims.get("acr")
    hint = claims.get("preferred_username")
    return Identity(
        subject=claims["sub"],
        claims=claims,
        email=email if isinstance(email, str) and "@" in email else None,
        # Only a boolean true counts; some providers send the string "true".
        email_verified=verified is True or verified == "true",
        username_hint=hint if isinstance(hint, str) else None,
        amr=tuple(a for a in amr if isinstance(a, str))[:_MAX_AMR] if isinstance(amr, list) else (),
        acr=acr if isinstance(acr, str) and len(acr) <= 64 else None,
    )
