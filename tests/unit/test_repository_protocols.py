"""Every repository Protocol (``domain.repositories``) is met by its SQL repository and its
in-memory one: each method of the Protocol is defined by both, async where the Protocol's
is, with the same parameters (names, kinds, which have defaults). mypy checks the types;
this keeps the names honest without it, and fails on a Protocol added without both sides."""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import pytest

from ostiary.domain import repositories
from ostiary.storage import memory
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
from ostiary.storage.memory.throttles import MemoryRateLimits, MemoryThrottles
from ostiary.storage.memory.used_jtis import MemoryUsedJtis
from ostiary.storage.memory.users import MemoryUsers
from ostiary.storage.repos.access import AccessRepository
from ostiary.storage.repos.audit import AuditRepository
from ostiary.storage.repos.clients import ClientRepository
from ostiary.storage.repos.codes import CodeRepository
from ostiary.storage.repos.consents import ConsentRepository
from ostiary.storage.repos.factors import FactorRepository
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

# Store member: (Protocol, SQL repository, in-memory repository).
IMPLEMENTATIONS: dict[str, tuple[type[Any], type[Any], type[Any]]] = {
    "clients": (repositories.Clients, ClientRepository, MemoryClients),
    "users": (repositories.Users, UserRepository, MemoryUsers),
    "factors": (repositories.Factors, FactorRepository, MemoryFactors),
    "keys": (repositories.Keys, KeyRepository, MemoryKeys),
    "sessions": (repositories.Sessions, SessionRepository, MemorySessions),
    "interactions": (repositories.Interactions, InteractionRepository, MemoryInteractions),
    "consents": (repositories.Consents, ConsentRepository, MemoryConsents),
    "codes": (repositories.Codes, CodeRepository, MemoryCodes),
    "refresh_tokens": (repositories.RefreshTokens, RefreshTokenRepository, MemoryRefreshTokens),
    "revocations": (repositories.Revocations, RevocationRepository, MemoryRevocations),
    "revocation_events": (
        repositories.RevocationEvents,
        RevocationEventRepository,
        MemoryRevocationEvents,
    ),
    "logout_failures": (
        repositories.LogoutFailures,
        LogoutFailureRepository,
        MemoryLogoutFailures,
    ),
    "access": (repositories.Access, AccessRepository, MemoryAccess),
    "audit": (repositories.Audit, AuditRepository, MemoryAudit),
    "throttles": (repositories.Throttles, ThrottleRepository, MemoryThrottles),
    "rate_limits": (repositories.RateLimits, RateLimitRepository, MemoryRateLimits),
    "one_time_tokens": (
        repositories.OneTimeTokens,
        OneTimeTokenRepository,
        MemoryOneTimeTokens,
    ),
    "used_jtis": (repositories.UsedJtis, UsedJtiRepository, MemoryUsedJtis),
    "pushed_authorizations": (
        repositories.PushedAuthorizations,
        PushedAuthorizationRepository,
        MemoryPushedAuthorizations,
    ),
    "resources": (repositories.Resources, ResourceRepository, MemoryResources),
}


def _methods(protocol: type[Any]) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(protocol).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }


def _shape(function: Any) -> list[tuple[str, inspect._ParameterKind, bool]]:
    """Each parameter's name, kind and whether it has a default (``self`` included)."""
    return [
        (p.name, p.kind, p.default is not inspect.Parameter.empty)
        for p in inspect.signature(function).parameters.values()
    ]


def _repository_protocols() -> set[type[Any]]:
    return {
        value
        for value in vars(repositories).values()
        if isinstance(value, type)
        and issubclass(value, Protocol)
        and value.__module__ == repositories.__name__
        and value is not repositories.Store
    }


def test_every_protocol_and_store_member_has_both_implementations() -> None:
    store_members = {
        name for name, value in vars(repositories.Store).items() if isinstance(value, property)
    }
    assert set(IMPLEMENTATIONS) == store_members
    assert {p for p, _, _ in IMPLEMENTATIONS.values()} == _repository_protocols()


@pytest.mark.parametrize("member", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("side", ["sql", "memory"])
def test_repository_defines_every_protocol_method_with_its_parameters(
    member: str, side: str
) -> None:
    protocol, sql, in_memory = IMPLEMENTATIONS[member]
    implementation = sql if side == "sql" else in_memory
    for name, wanted in _methods(protocol).items():
        found = getattr(implementation, name, None)
        assert found is not None, f"{implementation.__name__} has no {name}"
        assert inspect.iscoroutinefunction(found) == inspect.iscoroutinefunction(wanted), name
        assert _shape(found) == _shape(wanted), f"{implementation.__name__}.{name}"


def test_memory_store_holds_each_memory_repository() -> None:
    store = memory.MemoryStore()
    for member, (_, _, in_memory) in IMPLEMENTATIONS.items():
        assert type(getattr(store, member)) is in_memory
