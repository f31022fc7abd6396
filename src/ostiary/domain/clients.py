"""A registered OAuth client (RFC 6749 §2) as every layer sees it."""

from __future__ import annotations

from dataclasses import dataclass


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
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "backchannel_logout_session_required": self.backchannel_logout_session_required,
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
            "id_token_ttl": self.id_token_ttl,
            "session_refresh_tokens": self.session_refresh_tokens,
            "include_roles": self.include_roles,
            "include_groups": self.include_groups,
            "created_at": self.created_at,
        }
