"""The audit trail: security events, written without ever recording a secret.

Security events (logins, revocations, consent, admin changes) are written before the
response. Token issuance is frequent and only informative, so it is queued and written in
batches by a background task (no synchronous audit row per token).

Observers (metrics, the security log, the request log's client and subject) see every
event as it is raised, scrubbed, whether it is written now or queued: the one place the
server's security events pass through.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from ostiary import clock
from ostiary.domain.audit import AuditEvent
from ostiary.domain.repositories import Audit

log = logging.getLogger("ostiary.audit")

# Detail keys that name a secret, and values shaped like one, are never written.
_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|secret|token|code|cookie|authorization|verifier|assertion)$",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(r"ost_(cs|rt|ac|ss|rs|ev)_|^eyJ[\w-]*\.[\w-]*\.|\$argon2", re.IGNORECASE)
MAX_QUEUE = 10_000
# Called with each event as it is raised; must be quick and must not raise.
AuditObserver = Callable[[AuditEvent], None]
FLUSH_INTERVAL = 1.0


def scrub(details: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if _is_secret(k, v) else v) for k, v in details.items()}


def _is_secret(key: str, value: Any) -> bool:
    if _SECRET_KEY.search(key):
        return True
    return isinstance(value, str) and _SECRET_VALUE.search(value) is not None


class AuditLog:
    def __init__(self, repo: Audit) -> None:
        self._repo = repo
        self._queue: list[AuditEvent] = []
        self.observers: list[AuditObserver] = []

    def _event(self, type: str, actor: str, **fields: Any) -> AuditEvent:
        details = scrub(fields.pop("details", None) or {})
        event = AuditEvent(type=type, actor=actor, at=clock.now(), details=details, **fields)
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                # Watching the trail must never fail the request it records.
                log.exception("audit observer failed on %s", type)
        return event

    async def record(self, type: str, *, actor: str, **fields: Any) -> None:
        """Write a security event now, before the response (in a unit of work,
        ``Store.unit_of_work``, with the request's next write: still before the response)."""
        await self._repo.add(self._event(type, actor, **fields))

    def later(self, type: str, *, actor: str, **fields: Any) -> None:
        """Queue a frequent event (token issued/refreshed) for the next batch."""
        if len(self._queue) >= MAX_QUEUE:
            log.warning("audit queue full; dropping %s", type)
            return
        self._queue.append(self._event(type, actor, **fields))

    async def flush(self) -> None:
        batch, self._queue = self._queue, []
        if batch:
            try:
                await self._repo.add_many(batch)
            except Exception:
                log.exception("writing %d audit events failed", len(batch))

    async def run(self) -> None:
        """Flush the queue every second until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(FLUSH_INTERVAL)
                await self.flush()
        finally:
            await self.flush()
