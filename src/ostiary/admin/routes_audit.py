"""/audit: the security log, oldest first; /lockouts: unlocking an address."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, StringConstraints

from ostiary.accounts.throttle import ip_key
from ostiary.admin import paging
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.problems import unprocessable
from ostiary.admin.resources import record
from ostiary.admin.schemas import AuditEventOut, Body, Page

router = APIRouter(tags=["audit"])
# Endpoints that count failures per address (the callers of accounts.throttle.ip_key).
_IP_ENDPOINTS = ("login", "token", "reset")


@router.get("/audit", response_model=Page[AuditEventOut])
async def list_audit_events(
    services: ServicesDep,
    limit: paging.Limit = 50,
    cursor: paging.Cursor = None,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=64, description="e.g. user.disabled")] = None,
    since: Annotated[
        datetime | None,
        Query(description="ISO 8601 date-time (UTC if no offset) or Unix seconds."),
    ] = None,
) -> Page[AuditEventOut]:
    """Events oldest first; filters combine. Follow ``next_cursor`` to read on."""
    events = await services.store.audit.query(
        user_id=user_id,
        client_id=client_id,
        type=type,
        since=_unix(since) if since is not None else None,
        after_id=paging.decode_int("audit", cursor),
        limit=limit + 1,
    )
    page = events[:limit]
    items = [AuditEventOut.model_validate(e.as_json()) for e in page]
    more = len(events) > limit
    next_cursor = paging.encode("audit", str(items[-1].id)) if more else None
    return Page[AuditEventOut](items=items, next_cursor=next_cursor)


def _unix(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


class AddressUnlock(Body):
    ip: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Unlocked(BaseModel):
    ip: str
    count: int


@router.post("/lockouts/unlock", response_model=Unlocked)
async def unlock_address(body: AddressUnlock, services: ServicesDep, caller: CallerDep) -> Unlocked:
    """Clear the failure counters and locks of an IP address (sign-in, token endpoint,
    password reset)."""
    try:
        ip = str(ipaddress.ip_address(body.ip))
    except ValueError:
        raise unprocessable(f"{body.ip!r} is not an IP address") from None
    cleared = await services.throttle.unlock([ip_key(ip, e) for e in _IP_ENDPOINTS])
    await record(services, caller, "lockout.unlocked", details={"address": ip, "count": cleared})
    return Unlocked(ip=ip, count=cleared)
