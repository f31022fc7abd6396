"""GitHub: OAuth 2.0 without OpenID Connect; the user and emails APIs say who it is.

The link key is the numeric user id (a login can be renamed); only the primary email, and
only if GitHub verified it, is taken. GitHub answers token errors with HTTP 200 and an
``error`` member, which the token request treats as the error it is.
"""

from __future__ import annotations

from typing import Any

from ostiary.federation.connectors.base import Callback, Identity
from ostiary.federation.discovery import Endpoints
from ostiary.federation.errors import upstream_error
from ostiary.federation.http import Upstream
from ostiary.federation.providers import Provider, ProviderConfigError, check_url

ISSUER = "https://github.com"
API = "https://api.github.com"


def api_base(provider: Provider) -> str:
    return str(provider.options.get("api_base") or API).rstrip("/")


class GitHubConnector:
    preset = "github"
    default_scopes: tuple[str, ...] = ("read:user", "user:email")
    openid = False

    def configure(self, provider: Provider) -> Provider:
        check_url(api_base(provider), "options.api_base")
        if "openid" in provider.scopes:
            raise ProviderConfigError("scope: GitHub is not an OpenID Provider; drop 'openid'")
        return provider

    async def endpoints(self, provider: Provider, upstream: Upstream) -> Endpoints:
        base = provider.issuer.rstrip("/")
        return Endpoints(
            issuer=base,
            authorization_endpoint=f"{base}/login/oauth/authorize",
            token_endpoint=f"{base}/login/oauth/access_token",
            token_auth_methods=("client_secret_post", "client_secret_basic"),
        )

    def authorize_params(self, provider: Provider) -> dict[str, str]:
        return {"allow_signup": "false"}

    async def identity(self, callback: Callback) -> Identity:
        headers = {
            "Authorization": f"Bearer {callback.tokens.access_token}",
            "Accept": "application/vnd.github+json",
        }
        base, upstream = api_base(callback.provider), callback.upstream
        user = await upstream.get_json(f"{base}/user", headers)
        emails = await upstream.get_json(f"{base}/user/emails", headers)
        return identity_from_api(user, emails)


def identity_from_api(user: Any, emails: Any) -> Identity:
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise upstream_error("GitHub /user has no numeric id", "GitHub")
    login = user.get("login") if isinstance(user.get("login"), str) else None
    primary = verified_primary(emails)
    claims: dict[str, Any] = {
        "sub": str(user["id"]),
        "login": login,
        "name": user.get("name") if isinstance(user.get("name"), str) else None,
        "email": primary,
        "email_verified": primary is not None,
    }
    return Identity(
        subject=str(user["id"]),
        claims={k: v for k, v in claims.items() if v is not None},
        email=primary,
        email_verified=primary is not None,
        username_hint=login,
    )


def verified_primary(emails: Any) -> str | None:
    """The primary address if GitHub verified it; an unverified one is never used."""
    if not isinstance(emails, list):
        return None
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") is True:
            email = entry.get("email")
            if entry.get("verified") is True and isinstance(email, str) and "@" in email:
                return email
            return None
    return None
