"""Reading the audit log out (an export is itself audited) and unlocking an address."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

import orjson
from pydantic import BaseModel, StringConstraints, model_validator

from ostiary.accounts.throttle import ip_key
from ostiary.admin.auth import Caller
from ostiary.admin.problems import unprocessable
from ostiary.admin.resources import record
from ostiary.admin.schemas import Body
from ostiary.services import Services
from ostiary.storage.queries import audit_pages
from ostiary.storage.queries.audit_pages import AuditFilter

# Endpoints that count failures per address (the callers of accounts.throttle.ip_key).
_IP_ENDPOINTS = ("login", "token", "reset")
# Events per query of an export: small enough that no query holds the database long.
EXPORT_CHUNK = 500
Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AuditQuery(Body):
    """Filters of the audit log, as the admin API's /audit takes them (plus ``until``).
    Times are ISO 8601 date-times (UTC when no offset is given) or Unix seconds."""

    user_id: Key | None = None
    client_id: Key | None = None
    type: Key | None = None
    since: datetime | None = None
    until: datetime | None = None

    @model_validator(mode="after")
    def _in_order(self) -> AuditQuery:
        if (
            self.since is not None
            and self.until is not None
            and unix(self.until) < unix(self.since)
        ):
            raise ValueError("until must not be before since")
        return self

    def narrowing(self) -> AuditFilter:
        return AuditFilter(
            user_id=self.user_id,
            client_id=self.client_id,
            type=self.type,
            since=unix(self.since) if self.since is not None else None,
            until=unix(self.until) if self.until is not None else None,
        )


def unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


async def export(services: Services, caller: Caller, query: AuditQuery) -> AsyncIterator[bytes]:
    """The filtered log as JSON Lines, oldest first, read a chunk at a time.

    The export is audited (``audit.exported``, with its filters) before the first line
    is read; it covers the events written before it was asked for, so its own event and
    those written while it streams are left for the next one.
    """
    filters = query.narrowing()
    up_to = await audit_pages.last_id(services.engine)
    asked = query.model_dump(mode="json", exclude_none=True)
    await record(services, caller, "audit.exported", details={"filters": asked, "up_to": up_to})
    return _lines(services, filters, up_to)


async def _lines(services: Services, filters: AuditFilter, up_to: int) -> AsyncIterator[bytes]:
    after = 0
    while True:
        events = await audit_pages.oldest_first(
            services.engine, filters, after_id=after, up_to_id=up_to, limit=EXPORT_CHUNK
        )
        if not events:
            return
        yield b"".join(orjson.dumps(e.as_json()) + b"\n" for e in events)
        last = events[-1].id
        assert last is not None
        after = last


class AddressUnlock(Body):
    ip: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Unlocked(BaseModel):
    ip: str
    count: int


async def unlock_address(services: Services, caller: Caller, body: AddressUnlock) -> Unlocked:
    """Clear the failure counters and locks of an IP address (sign-in, token endpoint,
    password reset)."""
    try:
        ip = str(ipaddress.ip_address(body.ip))
    except ValueError:
        raise unprocessable(f"{body.ip!r} is not an IP address") from None
    cleared = await services.throttle.unlock([ip_key(ip, e) for e in _IP_ENDPOINTS])
    await record(services, caller, "lockout.unlocked", details={"address": ip, "count": cleared})
    return Unlocked(ip=ip, count=cleared)
