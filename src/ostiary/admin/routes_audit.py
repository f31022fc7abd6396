"""/audit: the security log, oldest first; /lockouts: unlocking an address."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ostiary.admin import paging
from ostiary.admin.auth import CallerDep, ServicesDep
from ostiary.admin.operations import audit as ops
from ostiary.admin.operations.audit import AddressUnlock, Unlocked
from ostiary.admin.schemas import AuditEventOut, Page

router = APIRouter(tags=["audit"])


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
        since=ops.unix(since) if since is not None else None,
        after_id=paging.decode_int("audit", cursor),
        limit=limit + 1,
    )
    page = events[:limit]
    items = [AuditEventOut.model_validate(e.as_json()) for e in page]
    more = len(events) > limit
    next_cursor = paging.encode("audit", str(items[-1].id)) if more else None
    return Page[AuditEventOut](items=items, next_cursor=next_cursor)


@router.post("/lockouts/unlock", response_model=Unlocked)
async def unlock_address(body: AddressUnlock, services: ServicesDep, caller: CallerDep) -> Unlocked:
    """Clear the failure counters and locks of an IP address (sign-in, token endpoint,
    password reset)."""
    return await ops.unlock_address(services, caller, body)
