"""What every connector provides, and what it hands back: the upstream identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ostiary.federation.discovery import Endpoints
from ostiary.federation.http import Upstream
from ostiary.federation.providers import Provider


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """RFC 6749 §5.1, plus the OIDC id_token."""

    access_token: str
    token_type: str
    id_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the upstream says signed in; (provider, subject) is the link key."""

    subject: str
    claims: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    email_verified: bool = False
    username_hint: str | None = None
    amr: tuple[str, ...] = ()
    acr: str | None = None


@dataclass(frozen=True, slots=True)
class Callback:
    """What a connector reads the identity from: the upstream's token response to our
    code, the provider's endpoints, the nonce sent with the request, and the HTTP client
    for any further call (JWKS, UserInfo, a vendor API)."""

    provider: Provider
    endpoints: Endpoints
    tokens: TokenResponse
    nonce: str
    upstream: Upstream


class Connector(Protocol):
    preset: str
    default_scopes: tuple[str, ...]
    # Whether the upstream is an OpenID Provider (ID token, nonce) or plain OAuth 2.0.
    openid: bool

    def configure(self, provider: Provider) -> Provider:
        """Check and complete a provider's settings for this vendor; ProviderConfigError."""
        ...

    async def endpoints(self, provider: Provider, upstream: Upstream) -> Endpoints: ...

    def authorize_params(self, provider: Provider) -> dict[str, str]: ...

    async def identity(self, callback: Callback) -> Identity: ...
