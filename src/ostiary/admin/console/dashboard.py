"""The console's first page: how many of everything, what happened lately, how old the
signing keys are."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary import clock
from ostiary.admin.console import render
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area, may_read
from ostiary.admin.operations import keys as key_operations
from ostiary.domain.audit import AuditEvent
from ostiary.storage.queries import audit_pages, console_views

RECENT_EVENTS = 10


@console_page(Area.DASHBOARD)
async def dashboard(request: Request, viewer: Viewer) -> Response:
    services = services_of(request)
    now = clock.now()
    counts = await console_views.counts(services.engine, now)
    events: list[AuditEvent] = []
    if may_read(viewer.roles, Area.AUDIT):
        events, _ = await audit_pages.newest_first(
            services.engine, audit_pages.AuditFilter(), before_id=None, limit=RECENT_EVENTS
        )
    keys: list[key_operations.KeyRow] = []
    if may_read(viewer.roles, Area.KEYS):
        keys = [k for k in await key_operations.listing(services) if k.state != "expired"]
    return render.page(
        request,
        viewer,
        "dashboard.html",
        area=Area.DASHBOARD,
        counts=counts,
        events=events,
        keys=keys,
        now=now,
    )
