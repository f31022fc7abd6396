"""Brute-force protection: exponential locks per account, per client and address, and per
address, on every node.

Counters live in the database, so a lock set by one process holds in all of them. The
token endpoint is hot, so it consults the table only for keys this process has seen fail
recently; a key that keeps failing on another node is picked up after its first failure
here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ostiary import clock
from ostiary.cache.bounded import BoundedCache
from ostiary.domain import identifiers
from ostiary.domain.repositories import Throttles
from ostiary.domain.throttles import ThrottleState
from ostiary.events import AuditLog
from ostiary.settings import LockoutSettings

MAX_SUSPECTS = 10_000


def account_key(username: str, *, key: str | None = None) -> str:
    """One counter per account whatever the case or width it is typed in: the username's
    comparison form (``identifiers.username_key``); ``key`` is that form when the caller
    has it already."""
    if key is None:
        key = identifiers.username_key(username.strip())
    # Text no database can hold names no account: one shared counter for all of it.
    return "user:" + (key if key is not None else "\ufffd")[:150]


def ip_key(ip: str | None, endpoint: str = "login") -> str:
    return f"ip:{endpoint}:{ip or 'unknown'}"


def client_key(client_id: str, ip: str | None) -> str:
    """Failed client authentications of one client id from one address. Never per client
    id alone: its secret is 256 random bits, so counting guesses protects nothing, and a
    lock anyone could set by sending wrong secrets would lock the real client out."""
    return f"{client_prefix(client_id)}{ip or 'unknown'}"


def client_prefix(client_id: str) -> str:
    """The start of every ``client_key`` of this client (an admin unlock clears them all)."""
    return f"client:{client_id[:100]}|"


def lockout_fields(key: str, seconds: int) -> dict[str, Any]:
    """The audit fields of a lock set on ``key``: what is locked (reason), for how long."""
    kind, _, rest = key.partition(":")
    fields: dict[str, Any] = {"actor": "system", "outcome": "failure"}
    details: dict[str, Any] = {"seconds": seconds}
    if kind == "user":
        fields["reason"] = "account"
        details["username"] = rest
    elif kind == "ip":
        endpoint, _, ip = rest.partition(":")
        fields.update(reason="address", ip=ip)
        details["endpoint"] = endpoint
    else:
        client_id, _, ip = rest.partition("|")
        fields.update(reason="client", client_id=client_id, ip=ip)
    fields["details"] = details
    return fields


def locked_message(wait: int) -> str:
    """What a person locked out for ``wait`` seconds reads (whole minutes, at least one)."""
    minutes = max(1, -(-wait // 60))
    return f"Too many failed attempts. Try again in {minutes} minute(s)."


@dataclass(frozen=True, slots=True)
class Check:
    # Seconds until every key is unlocked (0: go ahead).
    wait: int
    # The keys that had failures on record when checked.
    recorded: frozenset[str]


class Throttle:
    def __init__(
        self, repo: Throttles, settings: LockoutSettings, audit: AuditLog | None = None
    ) -> None:
        self._repo = repo
        self._settings = settings
        self._audit = audit
        # Keys seen failing on this node within the window (the value is unused).
        self._suspects: BoundedCache[str, bool] = BoundedCache(
            MAX_SUSPECTS, ttl=settings.window, lru=False
        )

    def _threshold(self, key: str) -> int:
        s = self._settings
        return s.ip_threshold if key.startswith("ip:") else s.account_threshold

    async def wait_seconds(self, keys: Iterable[str]) -> int:
        """Seconds until every key is unlocked (0: go ahead)."""
        until = await self._repo.locked_until(keys)
        return max(0, until - clock.now())

    async def check(self, keys: Iterable[str]) -> Check:
        """As ``wait_seconds``, and which keys have failures on record (for ``succeeded``)."""
        return self.checked(await self._repo.state(keys))

    @staticmethod
    def checked(state: ThrottleState) -> Check:
        """``check``, from the state of its keys read already."""
        return Check(max(0, state.locked_until - clock.now()), state.recorded)

    async def wait_seconds_if_suspect(self, keys: Iterable[str]) -> int:
        """As ``wait_seconds``, but only asks the database about keys seen failing here."""
        suspects = [k for k in keys if k in self._suspects]
        return await self.wait_seconds(suspects) if suspects else 0

    async def failed(self, keys: Iterable[str]) -> None:
        s = self._settings
        for key in keys:
            self._suspect(key)
            failures = await self._repo.fail(key, window=s.window)
            over = failures - self._threshold(key)
            if over >= 0:
                # Exponential: base, 2x base, 4x base ... up to the maximum.
                seconds = min(s.base_lock * 2 ** min(over, 20), s.max_lock)
                await self._repo.lock(key, clock.now() + seconds)
                if self._audit is not None:
                    await self._audit.record("lockout.started", **lockout_fields(key, seconds))

    async def succeeded(self, keys: Iterable[str], checked: Check | None = None) -> None:
        """Forget the failures of these keys. Given the ``check`` made before this attempt,
        only keys that had failures then are cleared: most logins have none, so no write
        (a failure recorded meanwhile by another attempt was not this login's to forgive)."""
        wanted = [k for k in keys if checked is None or k in checked.recorded]
        if wanted:
            await self._repo.clear(wanted)

    async def unlock(self, keys: Iterable[str]) -> int:
        return await self._repo.clear(keys)

    async def unlock_client(self, client_id: str) -> int:
        """Forget the failures of this client from every address."""
        return await self._repo.clear_prefix(client_prefix(client_id))

    def _suspect(self, key: str) -> None:
        self._suspects.put(key, True)
