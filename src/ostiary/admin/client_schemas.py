"""Client bodies: RFC 7591 §2 metadata names, as ``ostiary client show --json`` prints them.

The shape is checked here; the registration rules (grant and redirect-URI combinations,
PKCE for public clients...) are ``oauth.registration``'s alone.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from ostiary.admin.schemas import Body

ClientName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ClientId = Annotated[str, StringConstraints(min_length=3, max_length=64)]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
ScopeString = Annotated[str, StringConstraints(max_length=4000)]
AuthMethod = Literal[
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
    "none",
]
Alg = Annotated[str, StringConstraints(max_length=16)]
# A JWK Set (RFC 7517 §5) as given; what its keys may be is ``oauth.registration``'s rule.
Jwks = Annotated[dict[str, Any], Field(description="A JWK Set of public keys (RFC 7517 §5).")]
AccessTtl = Annotated[int, Field(ge=1, le=86400)]
# Ten years: a refresh token lifetime beyond that is a mistake, and it fits an INTEGER.
RefreshTtl = Annotated[int, Field(ge=1, le=315_360_000)]
IdTokenTtl = Annotated[int, Field(ge=60, le=86400)]
UriList = Annotated[list[Uri], Field(max_length=50)]


class _ClientFields(Body):
    """Members both creation and change accept."""

    redirect_uris: UriList | None = None
    grant_types: (
        Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(max_length=10)]
        | None
    ) = None
    scope: ScopeString | None = Field(None, description="Space-separated (RFC 6749 §3.3).")
    token_endpoint_auth_method: AuthMethod | None = None
    audience: UriList | None = None
    first_party: bool | None = None
    access_token_ttl: AccessTtl | None = None
    refresh_token_ttl: RefreshTtl | None = None
    post_logout_redirect_uris: UriList | None = None
    backchannel_logout_uri: Uri | None = None
    backchannel_logout_session_required: bool | None = None
    id_token_signed_response_alg: Annotated[str, StringConstraints(max_length=16)] | None = None
    id_token_ttl: IdTokenTtl | None = None
    session_refresh_tokens: bool | None = None
    include_roles: bool | None = None
    include_groups: bool | None = None
    require_mfa: bool | None = Field(
        None, description="Every sign-in to this client needs a second factor (MFA policy)."
    )
    jwks: Jwks | None = None
    jwks_uri: Uri | None = None
    token_endpoint_auth_signing_alg: Alg | None = None
    require_pushed_authorization_requests: bool | None = None
    dpop_bound_access_tokens: bool | None = None
    require_signed_request_object: bool | None = None
    request_object_signing_alg: Alg | None = None
    tls_client_auth_subject_dn: Annotated[str, StringConstraints(max_length=1000)] | None = None
    tls_client_certificate_bound_access_tokens: bool | None = None
    profile: Literal["fapi2"] | None = Field(
        None, description="fapi2: held to the FAPI 2.0 Security Profile as a whole."
    )


class ClientCreate(_ClientFields):
    client_name: ClientName
    client_id: ClientId | None = Field(None, description="Chosen by Ostiary when left out.")
    public: bool = Field(False, description="A public client has no secret (RFC 6749 §2.1).")


class ClientPatch(_ClientFields):
    """Members left out stay; a null TTL or URI goes back to the default. ``public`` and
    ``client_id`` never change: create a new client instead."""

    client_name: ClientName | None = None


# API member name -> ClientSpec field name, where they differ.
_SPEC_NAMES = {
    "client_name": "name",
    "scope": "scopes",
    "token_endpoint_auth_method": "auth_method",
}
_LISTS = {"redirect_uris", "grant_types", "audience", "post_logout_redirect_uris"}
_FLAGS = {
    "first_party",
    "backchannel_logout_session_required",
    "session_refresh_tokens",
    "include_roles",
    "include_groups",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "require_signed_request_object",
    "tls_client_certificate_bound_access_tokens",
}


# The MFA policy is the operator's, not registration metadata: ``oauth.registration``
# does not check it, the clients repository stores it beside the registration.
_POLICY = "require_mfa"


def spec_changes(body: _ClientFields) -> dict[str, Any]:
    """The members the caller sent, under ``ClientSpec`` names; null means the default."""
    changes: dict[str, Any] = {}
    for name in body.model_fields_set - {_POLICY}:
        value = getattr(body, name)
        if name == "scope":
            value = (value or "").split()
        elif name in _LISTS and value is None:
            value = []
        elif name in _FLAGS and value is None:
            value = False
        changes[_SPEC_NAMES.get(name, name)] = value
    return changes


def require_mfa_change(body: _ClientFields) -> bool | None:
    """The MFA policy the caller sent (null means the default, off); None if left out."""
    return bool(body.require_mfa) if _POLICY in body.model_fields_set else None


class ClientOut(BaseModel):
    client_id: str
    client_name: str
    public: bool
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    audience: list[str]
    first_party: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    backchannel_logout_session_required: bool
    id_token_signed_response_alg: str | None
    id_token_ttl: int | None
    session_refresh_tokens: bool
    include_roles: bool
    include_groups: bool
    require_mfa: bool
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    token_endpoint_auth_signing_alg: str | None
    require_pushed_authorization_requests: bool
    dpop_bound_access_tokens: bool
    require_signed_request_object: bool
    request_object_signing_alg: str | None
    tls_client_auth_subject_dn: str | None
    tls_client_certificate_bound_access_tokens: bool
    profile: str | None
    created_at: int


class ClientCreated(ClientOut):
    client_secret: str | None = Field(
        description="Shown in this response only (RFC 7591 §3.2.1); null for public clients."
    )
