"""Argon2id password hashing (argon2-cffi), off the event loop, with rehash on change.

At most one hash per usable core runs at a time: each allocates ``memory_cost`` KiB (19 MiB
by default), so unbounded concurrency grows the worker's memory with the number of logins
in flight (glibc keeps the arenas) and, past the core count, only adds cache thrashing.
Waiting callers queue on a semaphore instead.
"""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ostiary.settings import PasswordSettings

MAX_PASSWORD_LENGTH = 1024


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Passwords:
    def __init__(self, settings: PasswordSettings, concurrency: int | None = None) -> None:
        self.concurrency = concurrency or usable_cores()
        # One semaphore per event loop (a semaphore belongs to the loop that waits on it).
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_cost,
            parallelism=settings.parallelism,
            type=Type.ID,
        )
        # Verified when the user is unknown, so timing does not tell whether they exist.
        self._dummy = self._hasher.hash("ostiary-dummy-password")
        # "$argon2id$v=19$m=…,t=…,p=…$": a hash made with the current parameters starts so.
        self._current = self._dummy[: self._dummy.rindex("$", 0, self._dummy.rindex("$")) + 1]

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.concurrency))
        return self._slots[1]

    async def hash(self, password: str) -> str:
        async with self._semaphore():
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        async with self._semaphore():
            return await asyncio.to_thread(self._verify_sync, stored_hash, password)

    def _verify_sync(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Made with other parameters than the configured ones. A hash with the current
        type, version, memory, time and parallelism and the same length (salt and hash
        lengths) is current; anything else is left to argon2-cffi to decide."""
        if stored_hash.startswith(self._current) and len(stored_hash) == len(self._dummy):
            return False
        return self._hasher.check_needs_rehash(stored_hash)
