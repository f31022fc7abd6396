"""What the OAuth endpoints and grants need from the node's services (see ``tokens.deps``)."""

from __future__ import annotations

from typing import Protocol

from ostiary.accounts.deps import HasAudit, HasThrottle
from ostiary.oauth.client_keys import ClientKeys
from ostiary.resource.dpop import DPoPVerifier
from ostiary.tokens.deps import Checking, HasSettings, HasStore, HasTokens, Signing


class HasClientKeys(Protocol):
    @property
    def client_keys(self) -> ClientKeys: ...


class HasDPoP(Protocol):
    @property
    def dpop(self) -> DPoPVerifier: ...


class ClientAuthDeps(HasSettings, HasStore, HasAudit, HasThrottle, HasClientKeys, Protocol):
    """Client authentication: registered clients and their keys, lockout counters, the
    audit trail, the issuer (an assertion's audience)."""


class AuthorizeDeps(Checking, HasClientKeys, Protocol):
    """The authorization endpoint's checks: the store, keys to check an id_token_hint, the
    client's keys to check its request objects (RFC 9101)."""


class GrantDeps(Checking, Signing, HasTokens, HasAudit, Protocol):
    """A grant: the store, the token service, keys for ID tokens, the audit trail."""


class EndpointDeps(GrantDeps, ClientAuthDeps, HasDPoP, Protocol):
    """The token, introspection and revocation endpoints: client authentication, then
    a grant or a token lookup."""
