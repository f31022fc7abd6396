"""Google: a fixed issuer written two ways, and the hosted-domain (``hd``) restriction."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from ostiary.federation.connectors.oidc import OidcConnector
from ostiary.federation.discovery import Endpoints
from ostiary.federation.errors import FederationError
from ostiary.federation.providers import Provider, ProviderConfigError

ISSUER = "https://accounts.google.com"


class GoogleConnector(OidcConnector):
    preset = "google"

    def configure(self, provider: Provider) -> Provider:
        if provider.issuer.rstrip("/") != ISSUER:
            raise ProviderConfigError(f"issuer: Google's issuer is {ISSUER}")
        domain = provider.options.get("hosted_domain")
        if domain is not None and (not isinstance(domain, str) or "." not in domain):
            raise ProviderConfigError("options.hosted_domain: a domain name such as example.com")
        return dataclasses.replace(provider, issuer=ISSUER)

    def authorize_params(self, provider: Provider) -> dict[str, str]:
        # Only a hint for Google's account chooser; the hd claim is what is checked.
        domain = provider.options.get("hosted_domain")
        return {"hd": domain} if domain else {}

    def issuers(
        self, provider: Provider, endpoints: Endpoints, claims: dict[str, Any]
    ) -> Collection[str]:
        # Google documents both forms of iss in its ID tokens.
        return {ISSUER, "accounts.google.com"}

    def check(self, provider: Provider, claims: dict[str, Any]) -> None:
        domain = provider.options.get("hosted_domain")
        if domain and claims.get("hd") != domain:
            raise FederationError(
                f"Only accounts of {domain} may sign in with {provider.display_name}.",
                403,
                detail=f"hd claim {claims.get('hd')!r} is not {domain!r}",
            )
