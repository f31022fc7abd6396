"""What the role, group, scope and audit pages share: a rejected body as messages next
to its fields, lists by name a page at a time, and the rule that only an admin changes a
group granting a console role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from ostiary.admin import paging
from ostiary.admin.console import render
from ostiary.admin.console.guard import services_of
from ostiary.admin.console.permissions import check_privileged
from ostiary.admin.problems import Problem
from ostiary.services import Services
from ostiary.storage.queries import access_pages
from ostiary.storage.queries import admin_views as queries

PAGE_SIZE = 50
MAX_PREFIX = 200


async def carried_roles(services: Services, group_id: str) -> set[str]:
    """The roles a group's members hold through it: its own and every group's above it."""
    above, _ = await queries.reach(services.engine, group_id, upward=True)
    return await access_pages.roles_granted_to(services.engine, {group_id, *above})


async def check_group_change(services: Services, roles: frozenset[str], *group_ids: str) -> None:
    """Forbidden unless the viewer is an admin when any of these groups grants a console
    role, directly or through a group above it: changing who is in it (or what it is)
    hands out or takes away that role."""
    involved: set[str] = set()
    for group_id in group_ids:
        involved |= await carried_roles(services, group_id)
    check_privileged(roles, involved)


@dataclass(frozen=True, slots=True)
class NamePage:
    """One page of a list by name: its rows, the link to the next (None on the last) and
    the name prefix it is narrowed to ("" for none)."""

    rows: list[Any]
    next_url: str | None
    q: str


async def name_page(request: Request, table: str) -> NamePage:
    """The page of ``table`` (roles, groups, scopes) the request's ``q`` (a name prefix)
    and ``cursor`` ask for; the console lists it at /admin/<table>."""
    q = request.query_params.get("q", "").strip()
    if len(q) > MAX_PREFIX:
        raise Problem(400, f"A name prefix is at most {MAX_PREFIX} characters.")
    after = paging.decode(table, request.query_params.get("cursor"))
    rows, more = await access_pages.names_page(
        services_of(request).engine, table, q, after=after, limit=PAGE_SIZE
    )
    next_url = None
    if more:
        params = {"q": q} if q else {}
        params["cursor"] = paging.encode(table, rows[-1].name)
        next_url = f"{render.base_path(request)}/admin/{table}?{urlencode(params)}"
    return NamePage(rows, next_url, q)
