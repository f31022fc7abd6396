"""What the OAuth endpoints and grants need from the node's services (see ``tokens.deps``)."""

from __future__ import annotations

from typing import Protocol

from ostiary.accounts.deps import HasAudit, HasThrottle
from ostiary.tokens.deps import Checking, HasSettings, HasStore, HasTokens, Signing


class ClientAuthDeps(HasStore, HasAudit, HasThrottle, Protocol):
    """Client authentication: registered clients, lockout counters, the audit trail."""


class GrantDeps(Checking, Signing, HasTokens, HasAudit, Protocol):
    """A grant: the store, the token service, keys for ID tokens, the audit trail."""


class EndpointDeps(GrantDeps, ClientAuthDeps, HasSettings, Protocol):
    """The token, introspection and revocation endpoints: client authentication, then
    a grant or a token lookup."""
