"""Microsoft Entra ID: the multi-tenant issuer template and the tenant allow-list.

A multi-tenant app (``/common``, ``/organizations``) discovers the issuer
``https://login.microsoftonline.com/{tenantid}/v2.0``; the ID token's ``iss`` must be that
template filled with its own ``tid``, and ``tid`` must be on the allow-list. Entra's
``email`` claim is not verified (any tenant admin can set it), so it never counts as
verified unless the ``xms_edov`` claim says the domain owner verified it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from ostiary.federation.connectors.base import Callback, Identity
from ostiary.federation.connectors.oidc import OidcConnector
from ostiary.federation.discovery import Endpoints
from ostiary.federation.errors import FederationError
from ostiary.federation.providers import Provider, ProviderConfigError

TEMPLATE = "{tenantid}"
MULTI_TENANT = ("common", "organizations", "consumers")
_TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def tenant_of(issuer: str) -> str:
    parts = [p for p in urlsplit(issuer).path.split("/") if p]
    return parts[0] if parts else ""


def allowed_tenants(provider: Provider) -> list[str]:
    return [t.lower() for t in provider.options.get("tenants") or []]


class EntraConnector(OidcConnector):
    preset = "entra"

    def configure(self, provider: Provider) -> Provider:
        tenant = tenant_of(provider.issuer)
        tenants = provider.options.get("tenants") or []
        if not isinstance(tenants, list) or not all(
            isinstance(t, str) and _TENANT_ID.fullmatch(t.lower()) for t in tenants
        ):
            raise ProviderConfigError("options.tenants: a list of tenant ids (GUIDs)")
        if tenant in MULTI_TENANT and not tenants:
            raise ProviderConfigError(
                f"options.tenants: a multi-tenant issuer (/{tenant}) needs the allow-list of "
                "tenant ids whose users may sign in"
            )
        if tenant not in MULTI_TENANT and not _TENANT_ID.fullmatch(tenant.lower()):
            raise ProviderConfigError(
                "issuer: https://login.microsoftonline.com/<tenant id or common>/v2.0"
            )
        return provider

    def multi_tenant(self, provider: Provider) -> bool:
        return tenant_of(provider.issuer) in MULTI_TENANT

    def discovery_issuer(self, provider: Provider) -> str:
        if self.multi_tenant(provider):
            return provider.issuer.replace(f"/{tenant_of(provider.issuer)}/", f"/{TEMPLATE}/", 1)
        return provider.issuer

    def issuers(
        self, provider: Provider, endpoints: Endpoints, claims: dict[str, Any]
    ) -> Collection[str]:
        tid = claims.get("tid")
        if not isinstance(tid, str) or tid.lower() not in self._tenants(provider):
            raise FederationError(
                f"Your organisation may not sign in with {provider.display_name}.",
                403,
                detail=f"tid {tid!r} is not on the allow-list",
            )
        return {endpoints.issuer.replace(TEMPLATE, tid)}

    def _tenants(self, provider: Provider) -> list[str]:
        if self.multi_tenant(provider):
            return allowed_tenants(provider)
        return [tenant_of(provider.issuer).lower()]

    async def identity(self, callback: Callback) -> Identity:
        found = await super().identity(callback)
        verified = found.claims.get("xms_edov") is True
        return Identity(
            subject=found.subject,
            claims=found.claims,
            email=found.email,
            email_verified=verified and found.email is not None,
            username_hint=found.username_hint,
            amr=found.amr,
            acr=found.acr,
        )
