"""The parts of the node's services that token code reads, each named on its own.

Protocol code states what it uses by combining these (``Signing``, ``Checking``, and the
packages' own ``deps`` modules) rather than taking the whole ``services.Services``: the
composition root satisfies every one of them structurally, so callers pass it unchanged,
and a unit test can pass any object with just those members.
"""

from __future__ import annotations

from typing import Protocol

from ostiary.domain.repositories import Store
from ostiary.keys.manager import KeyManager
from ostiary.settings import Settings
from ostiary.tokens.service import TokenService


class HasSettings(Protocol):
    @property
    def settings(self) -> Settings: ...


class HasStore(Protocol):
    @property
    def store(self) -> Store: ...


class HasKeys(Protocol):
    @property
    def keys(self) -> KeyManager: ...


class HasTokens(Protocol):
    @property
    def tokens(self) -> TokenService: ...


class Signing(HasSettings, HasKeys, Protocol):
    """Signing a token of ours: the issuer and the key ring."""


class Checking(HasSettings, HasStore, HasKeys, Protocol):
    """Checking a token presented to us: keys to verify it, the store for its state."""
