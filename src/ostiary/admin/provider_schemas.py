"""Upstream identity provider bodies, as ``ostiary provider show --json`` prints them.

The client secret is write-only: accepted on creation and change, never echoed back
(``client_secret_set`` says whether one is held). Settings are checked as a whole by the
connector of the preset and ``federation.providers.check_provider``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from ostiary.admin.schemas import Body
from ostiary.domain.federation import Provider
from ostiary.federation.connectors import new_provider
from ostiary.federation.mapping import MAX_RULE_LENGTH, MAX_RULES

ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=63)]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RuleText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_RULE_LENGTH)]
Provisioning = Literal["allow", "existing", "deny"]
Preset = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class _ProviderFields(Body):
    """Members both creation and change accept."""

    display_name: DisplayName | None = None
    client_id: ClientId | None = None
    client_secret: Secret | None = Field(
        None, description="Write-only: stored sealed, never returned."
    )
    scopes: Annotated[list[Scope], Field(max_length=50)] | None = None
    provisioning: Provisioning | None = Field(
        None,
        description="First login: allow (create the account), existing (only accounts "
        "matched by a verified email) or deny.",
    )
    trust_email: bool | None = Field(
        None, description="Link to an existing account by an email the provider verified."
    )
    trust_mfa: bool | None = Field(
        None,
        description="Count the provider's amr/acr (a second factor passed upstream) toward "
        "the MFA policy.",
    )
    store_tokens: bool | None = Field(
        None, description="Keep the upstream access/refresh tokens, encrypted at rest."
    )
    enabled: bool | None = None
    mapping: Annotated[list[RuleText], Field(max_length=MAX_RULES)] | None = Field(
        None, description='Claim-mapping rules, e.g. groups contains "admins" -> role admin.'
    )
    options: Annotated[dict[str, Any], Field(max_length=20)] | None = Field(
        None,
        description="Connector options (tenants, hosted_domain, api_base, "
        "token_endpoint_auth_method, userinfo...).",
    )


class ProviderCreate(_ProviderFields):
    name: ProviderName
    issuer: Url
    client_id: ClientId
    preset: Preset = "oidc"

    def started(self, client_secret: str | None = None) -> Provider:
        """The provider as its preset starts it, before the other settings given; a
        ValueError for an unknown preset."""
        return new_provider(
            name=self.name,
            preset=self.preset,
            issuer=self.issuer,
            client_id=self.client_id,
            display_name=self.display_name,
            client_secret=client_secret,
        )


class ProviderPatch(_ProviderFields):
    """Members left out stay. ``name`` and ``preset`` never change: add a new provider.
    A null ``client_secret`` removes the secret; null elsewhere means "unchanged"."""

    issuer: Url | None = None


class ProviderOut(BaseModel):
    name: str
    display_name: str
    preset: str
    issuer: str
    client_id: str
    client_secret_set: bool
    scopes: list[str]
    enabled: bool
    provisioning: str
    trust_email: bool
    trust_mfa: bool
    store_tokens: bool
    mapping: list[str]
    options: dict[str, Any]
    redirect_uri: str = Field(description="Register exactly this at the provider.")
    created_at: int
    updated_at: int
