"""Security events written to the log (logger ``ostiary.security``) as well as audited.

Every audit event becomes one line, scrubbed as the audit trail is (``events.scrub``):
no secret by key or by shape. Personal details (the username typed, an email) stay in
the audit table, which an account deletion can erase; logs are copied too widely for
that, so a line names the user by id. Token issuance and refresh are frequent and only
informative: they are logged at debug level.
"""

from __future__ import annotations

import logging

from ostiary.domain.audit import PERSONAL_DETAILS, AuditEvent
from ostiary.events import scrub
from ostiary.observability.context import request_id

log = logging.getLogger("ostiary.security")
FREQUENT = frozenset({"token.issued", "token.refreshed"})


def log_event(event: AuditEvent) -> None:
    """Audit observer (``events.AuditLog.observers``)."""
    level = logging.DEBUG if event.type in FREQUENT else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields = scrub(
        {
            "event": event.type,
            "outcome": event.outcome,
            "reason": event.reason,
            "actor": event.actor,
            "user_id": event.user_id,
            "client_id": event.client_id,
            "ip": event.ip,
            "request_id": request_id(),
        }
    )
    # Scrubbed again: an event built elsewhere than AuditLog may reach an observer.
    details = scrub({k: v for k, v in event.details.items() if k not in PERSONAL_DETAILS})
    if details:
        fields["details"] = details
    outcome = "" if event.outcome == "success" else f" ({event.outcome})"
    log.log(level, "%s%s", event.type, outcome, extra={"fields": fields})
