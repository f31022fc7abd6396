"""What is known about the request being answered, for its log line.

The middleware opens one ``RequestContext`` per request; audit events raised while it runs
(``events.AuditLog``) fill in the client and the subject, so no endpoint has to pass them.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from ostiary.domain.audit import AuditEvent


@dataclass(slots=True)
class RequestContext:
    request_id: str
    client_id: str | None = None
    subject: str | None = None


current: ContextVar[RequestContext | None] = ContextVar("ostiary_request", default=None)


def request_id() -> str | None:
    context = current.get()
    return context.request_id if context is not None else None


def note_event(event: AuditEvent) -> None:
    """Audit observer: the first client and user an event of this request names."""
    context = current.get()
    if context is None:
        return
    if context.client_id is None and event.client_id:
        context.client_id = event.client_id
    if context.subject is None and event.user_id:
        context.subject = event.user_id
