"""What account code needs from the node's services (see ``tokens.deps``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol

from ostiary.accounts.passwords import Passwords
from ostiary.accounts.throttle import Throttle
from ostiary.domain.repositories import Store
from ostiary.events import AuditLog
from ostiary.storage.queries.accounts import AccountQueries
from ostiary.tokens.deps import HasKeys, HasSettings, HasStore


class HasAudit(Protocol):
    @property
    def audit(self) -> AuditLog: ...


class HasThrottle(Protocol):
    @property
    def throttle(self) -> Throttle: ...


class HasPasswords(Protocol):
    @property
    def passwords(self) -> Passwords: ...


class Spawns(Protocol):
    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run work after the response; awaited at shutdown."""


class SessionEnding(HasSettings, HasStore, HasKeys, Spawns, Protocol):
    """Ending a session: its tokens, and logout tokens signed for each client's back channel."""


class AccountStore(Store, Protocol):
    @property
    def accounts(self) -> AccountQueries:
        """Reads across tables for a person's own account pages and password reset."""


class AccountDeps(SessionEnding, HasAudit, HasThrottle, HasPasswords, Protocol):
    """Sign-in, recovery and a person's changes to their own account."""

    @property
    def store(self) -> AccountStore: ...
