"""Console pages: the audit log — filtered by user, client, type and time, newest first a
page at a time, and exported as JSON Lines (an auditor's or an admin's job: the export is
audited itself)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ostiary import clock
from ostiary.admin import paging
from ostiary.admin.console import render
from ostiary.admin.console.forms import field_errors
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area
from ostiary.admin.operations import audit as ops
from ostiary.storage.queries import audit_pages

PAGE_SIZE = 50
FILTERS = ("user_id", "client_id", "type", "since", "until")
# Its own cursor kind: an API cursor (oldest first) means nothing here.
CURSOR_KIND = "audit-newest"
NDJSON = "application/x-ndjson"


@console_page(Area.AUDIT)
async def audit_log(request: Request, viewer: Viewer) -> Response:
    values = _values(request)
    try:
        query = ops.AuditQuery.model_validate(_given(values))
    except ValidationError as exc:
        return _page(request, viewer, values, errors=field_errors(exc), status=422)
    before = paging.decode_int(CURSOR_KIND, request.query_params.get("cursor"))
    events, more = await audit_pages.newest_first(
        services_of(request).engine, query.narrowing(), before_id=before, limit=PAGE_SIZE
    )
    next_url = None
    if more and events:
        cursor = paging.encode(CURSOR_KIND, str(events[-1].id))
        next_url = _url(request, "/admin/audit", {**_given(values), "cursor": cursor})
    return _page(request, viewer, values, events=events, next_url=next_url)


@console_page(Area.AUDIT)
async def export(request: Request, viewer: Viewer) -> Response:
    values = _values(request)
    try:
        query = ops.AuditQuery.model_validate(_given(values))
    except ValidationError as exc:
        return _page(request, viewer, values, errors=field_errors(exc), status=422)
    stamp = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y%m%dT%H%M%SZ")
    disposition = f'attachment; filename="ostiary-audit-{stamp}.jsonl"'
    headers = {**render.HEADERS, "Content-Disposition": disposition}
    if request.method == "HEAD":
        # Only an export that is read is recorded as one.
        return Response(media_type=NDJSON, headers=headers)
    lines = await ops.export(services_of(request), viewer.caller, query)
    return StreamingResponse(lines, media_type=NDJSON, headers=headers)


def _values(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTERS}


def _given(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}


def _url(request: Request, path: str, params: dict[str, str]) -> str:
    query = urlencode(params)
    return render.base_path(request) + path + (f"?{query}" if query else "")


def _page(
    request: Request,
    viewer: Viewer,
    values: dict[str, str],
    *,
    events: list[Any] | None = None,
    next_url: str | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render.page(
        request,
        viewer,
        "audit.html",
        area=Area.AUDIT,
        status=status,
        values=values,
        errors=errors or {},
        events=events or [],
        next_url=next_url,
        filtered=bool(_given(values)),
        export_url=_url(request, "/admin/audit/export.jsonl", _given(values)),
    )


routes: list[BaseRoute] = [
    Route("/audit", audit_log, methods=["GET"]),
    Route("/audit/export.jsonl", export, methods=["GET"]),
]
