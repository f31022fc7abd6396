"""A registered OAuth client (RFC 6749 §2) as every layer sees it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    secret_hash: bytes | None
    public: bool
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    scopes: frozenset[str]
    audience: tuple[str, ...]
    first_party: bool
    access_token_ttl: int | None
    refresh_token_ttl: int | None
    created_at: int
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    id_token_signed_response_alg: str | None = None
    id_token_ttl: int | None = None
    session_refresh_tokens: bool = False
    include_roles: bool = False
    include_groups: bool = False
    tokens_valid_after: int = 0
    # MFA policy: every sign-in to this client needs a second factor.
    require_mfa: bool = False
    # Client security, under the registration metadata names (RFC 7591 §2, RFC 9126 §6,
    # RFC 9449 §5.2, RFC 9101 §10.5, RFC 8705 §2.1.2 and §3.4).
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    token_endpoint_auth_signing_alg: str | None = None
    require_pushed_authorization_requests: bool = False
    dpop_bound_access_tokens: bool = False
    require_signed_request_object: bool = False
    request_object_signing_alg: str | None = None
    tls_client_auth_subject_dn: str | None = None
    tls_client_certificate_bound_access_tokens: bool = False
    # A profile the client is held to as a whole ("fapi2": FAPI 2.0 Security Profile).
    profile: str | None = None
    # client_secret_jwt checks an HMAC, so needs the secret itself: sealed, never shown.
    secret_sealed: bytes | None = None

    def public_view(self) -> dict[str, object]:
        """The registration as shown to operators; never includes the secret hash."""
        return {
            "client_id": self.client_id,
            "client_name": self.name,
            "public": self.public,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": sorted(self.grant_types),
            "scope": " ".join(sorted(self.scopes)),
            "audience": list(self.audience),
            "first_party": self.first_party,
            "access_token_ttl": self.access_token_ttl,
            "refresh_token_ttl": self.refresh_token_ttl,
            **oidc_values(self),
            "require_mfa": self.require_mfa,
            "created_at": self.created_at,
        }


# The client-security registration fields (``Client`` above, from jwks to profile).
SECURITY_FIELDS = (
    "jwks",
    "jwks_uri",
    "token_endpoint_auth_signing_alg",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "require_signed_request_object",
    "request_object_signing_alg",
    "tls_client_auth_subject_dn",
    "tls_client_certificate_bound_access_tokens",
    "profile",
)

# The OpenID Connect registration fields (Dynamic Client Registration 1.0 §2 and the logout
# specs' metadata), as ``Client`` and a registration request (``ClientSpec``) both name
# them: the fields a registration may leave out, but the tokens' cut-off and the MFA
# policy (an operator's setting, not registration metadata).
NOT_REGISTRATION = frozenset({"tokens_valid_after", "require_mfa", "secret_sealed"})
OIDC_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(Client)
    if f.default is not dataclasses.MISSING and f.name not in NOT_REGISTRATION
)


def oidc_values(source: object) -> dict[str, Any]:
    """``source``'s OpenID Connect registration fields, lists as lists."""
    values = {name: getattr(source, name) for name in OIDC_FIELDS}
    values["post_logout_redirect_uris"] = list(values["post_logout_redirect_uris"])
    return values
