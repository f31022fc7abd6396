"""What signing in through an upstream provider needs from the node's services."""

from __future__ import annotations

from typing import Protocol

from ostiary.accounts.deps import AccountStore, HasAudit
from ostiary.storage.repos.federation_identities import FederationRepository
from ostiary.tokens.deps import HasSettings


class FederationStore(AccountStore, Protocol):
    @property
    def federation(self) -> FederationRepository:
        """Linked identities, pending upstream requests, role and group mapping."""


class FederationDeps(HasSettings, HasAudit, Protocol):
    @property
    def store(self) -> FederationStore: ...
