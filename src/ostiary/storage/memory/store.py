"""Every repository over one set of in-memory tables: the SQL ``Store`` without a database."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext

from ostiary.storage.memory.access import MemoryAccess
from ostiary.storage.memory.audit import MemoryAudit
from ostiary.storage.memory.clients import MemoryClients
from ostiary.storage.memory.codes import MemoryCodes
from ostiary.storage.memory.consents import MemoryConsents
from ostiary.storage.memory.factors import MemoryFactors
from ostiary.storage.memory.interactions import MemoryInteractions
from ostiary.storage.memory.keys import MemoryKeys
from ostiary.storage.memory.one_time_tokens import MemoryOneTimeTokens
from ostiary.storage.memory.pushed_authorizations import MemoryPushedAuthorizations
from ostiary.storage.memory.refresh_tokens import MemoryRefreshTokens
from ostiary.storage.memory.resources import MemoryResources
from ostiary.storage.memory.revocations import MemoryRevocationEvents, MemoryRevocations
from ostiary.storage.memory.sessions import MemoryLogoutFailures, MemorySessions
from ostiary.storage.memory.tables import Tables
from ostiary.storage.memory.throttles import MemoryRateLimits, MemoryThrottles
from ostiary.storage.memory.used_jtis import MemoryUsedJtis
from ostiary.storage.memory.users import MemoryUsers


class MemoryStore:
    """For unit tests of protocol code: no I/O, rows visible in ``tables``."""

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        """Every write is made at once: nothing is held back, nothing is left to send."""
        return nullcontext()

    def __init__(self, tables: Tables | None = None) -> None:
        t = self.tables = tables if tables is not None else Tables()
        self.clients = MemoryClients(t)
        self.users = MemoryUsers(t)
        self.keys = MemoryKeys(t)
        self.sessions = MemorySessions(t)
        self.interactions = MemoryInteractions(t)
        self.consents = MemoryConsents(t)
        self.codes = MemoryCodes(t)
        self.refresh_tokens = MemoryRefreshTokens(t)
        self.revocations = MemoryRevocations(t)
        self.revocation_events = MemoryRevocationEvents(t)
        self.logout_failures = MemoryLogoutFailures(t)
        self.access = MemoryAccess(t)
        self.audit = MemoryAudit(t)
        self.throttles = MemoryThrottles(t)
        self.rate_limits = MemoryRateLimits(t)
        self.one_time_tokens = MemoryOneTimeTokens(t)
        self.pushed_authorizations = MemoryPushedAuthorizations(t)
        self.used_jtis = MemoryUsedJtis(t)
        self.resources = MemoryResources(t)
        self.factors = MemoryFactors(t)
