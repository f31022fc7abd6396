"""All repositories over one engine."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from ostiary.storage.queries.accounts import AccountQueries
from ostiary.storage.repos._driver import Driver, UnitOfWork
from ostiary.storage.repos.access import AccessRepository
from ostiary.storage.repos.audit import AuditRepository
from ostiary.storage.repos.clients import ClientRepository
from ostiary.storage.repos.codes import CodeRepository
from ostiary.storage.repos.consents import ConsentRepository
from ostiary.storage.repos.factors import FactorRepository
from ostiary.storage.repos.federation_identities import FederationRepository
from ostiary.storage.repos.interactions import InteractionRepository
from ostiary.storage.repos.keys import KeyRepository
from ostiary.storage.repos.logout_failures import LogoutFailureRepository
from ostiary.storage.repos.one_time_tokens import OneTimeTokenRepository
from ostiary.storage.repos.pushed_authorizations import PushedAuthorizationRepository
from ostiary.storage.repos.rate_limits import RateLimitRepository
from ostiary.storage.repos.refresh_tokens import RefreshTokenRepository
from ostiary.storage.repos.resources import ResourceRepository
from ostiary.storage.repos.revocation_events import RevocationEventRepository
from ostiary.storage.repos.revocations import RevocationRepository
from ostiary.storage.repos.sessions import SessionRepository
from ostiary.storage.repos.throttles import ThrottleRepository
from ostiary.storage.repos.used_jtis import UsedJtiRepository
from ostiary.storage.repos.users import UserRepository


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.clients = ClientRepository(engine)
        self.users = UserRepository(engine)
        self.keys = KeyRepository(engine)
        self.sessions = SessionRepository(engine)
        self.interactions = InteractionRepository(engine)
        self.consents = ConsentRepository(engine)
        self.codes = CodeRepository(engine)
        self.refresh_tokens = RefreshTokenRepository(engine)
        self.revocations = RevocationRepository(engine)
        self.revocation_events = RevocationEventRepository(engine)
        self.logout_failures = LogoutFailureRepository(engine)
        self.access = AccessRepository(engine)
        self.audit = AuditRepository(engine)
        self.throttles = ThrottleRepository(engine)
        self.rate_limits = RateLimitRepository(engine)
        self.one_time_tokens = OneTimeTokenRepository(engine)
        self.pushed_authorizations = PushedAuthorizationRepository(engine)
        self.used_jtis = UsedJtiRepository(engine)
        self.resources = ResourceRepository(engine)
        self.factors = FactorRepository(engine)
        self.federation = FederationRepository(engine)
        self.accounts = AccountQueries(engine)
        self._driver = Driver(engine)

    def unit_of_work(self) -> UnitOfWork:
        """``async with``: inside the block a session's row and a security event are held
        back to go with the request's next write, and whatever is left is written when the
        block ends (``repos/_held_back.py``)."""
        return self._driver.unit_of_work()
