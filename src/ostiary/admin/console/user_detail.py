"""Console pages: one user — everything about the account on one page, and its profile
form. Nothing secret is ever shown: no hash, no factor secret, no token."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.bootstrap import ADMIN_ROLE
from ostiary.admin.console import render
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import CONSOLE_ROLES, Area
from ostiary.admin.console.user_forms import (
    Errors,
    check_may_change,
    form_of,
    held_console_roles,
    optional,
    problem_errors,
    target,
    text,
    user_field_errors,
)
from ostiary.admin.operations import users as operations
from ostiary.admin.problems import Problem
from ostiary.admin.schemas import UserPatch
from ostiary.domain.users import User
from ostiary.services import Services
from ostiary.storage.queries import admin_views
from ostiary.storage.queries.user_search import recent_events

TRAIL_LENGTH = 50
NAME_CLAIMS = ("name", "given_name", "family_name")
_EDIT_FIELDS = ("email", "phone_number", *NAME_CLAIMS)


@console_page(Area.USERS)
async def detail(request: Request, viewer: Viewer) -> Response:
    return await page_of(request, viewer, await target(request))


async def page_of(
    request: Request, viewer: Viewer, user: User, errors: Errors | None = None
) -> Response:
    """The user's page; with ``errors``, the password form's, answered 422."""
    services = services_of(request)
    held = await held_console_roles(services, user)
    links = await _links(services, user)
    # Offered only what the viewer may grant (the server refuses the rest anyway).
    assigned = {name for name, _ in links["roles"]}
    links["addable_roles"] = [
        r
        for r in links.pop("all_roles")
        if r not in assigned and (ADMIN_ROLE in viewer.roles or r not in CONSOLE_ROLES)
    ]
    return render.page(
        request,
        viewer,
        "user_detail.html",
        area=Area.USERS,
        status=422 if errors else 200,
        user=user,
        claims=[(c, user.profile.get(c)) for c in NAME_CLAIMS if user.profile.get(c)],
        # A user-admin sees the account but may change nothing about a console role holder.
        locked=bool(held) and ADMIN_ROLE not in viewer.roles,
        held=sorted(held),
        can_mail=bool(services.settings.smtp.host),
        local_login=services.settings.local_login,
        min_length=services.settings.passwords.min_length,
        errors=errors or {},
        **links,
    )


async def _links(services: Services, user: User) -> dict[str, Any]:
    """What hangs off the account, each list as the admin API's read routes give it."""
    store, engine = services.store, services.engine
    access = store.access
    direct_roles = set(await access.direct_roles(user.id))
    effective = await access.effective(user.id)
    direct_groups = {g.id: g for g in await admin_views.direct_groups(engine, user.id)}
    groups = {g.id: g for g in await admin_views.groups_named(engine, set(effective.groups))}
    groups.update(direct_groups)
    sessions = sorted(await store.sessions.for_user(user.id), key=lambda s: (s.created_at, s.sid))
    return {
        "roles": [(r, r in direct_roles) for r in sorted(effective.roles | direct_roles)],
        "all_roles": sorted(r.name for r in await access.list_roles()),
        "groups": [
            (g, g.id in direct_groups) for g in sorted(groups.values(), key=lambda g: g.name)
        ],
        "all_groups": sorted(await access.list_groups(), key=lambda g: g.name),
        "identities": await store.federation.for_user(user.id),
        "factors": await store.factors.for_user(user.id),
        "codes_left": await store.factors.recovery_codes_left(user.id),
        "sessions": sessions,
        "session_clients": await admin_views.clients_by_session(engine, [s.sid for s in sessions]),
        "consents": await admin_views.consents_of(engine, user.id),
        "events": await recent_events(engine, user.id, TRAIL_LENGTH),
    }


@console_page(Area.USERS, write=True)
async def edit(request: Request, viewer: Viewer) -> Response:
    """The profile form (GET) and its submission (POST), through the API's UserPatch."""
    user = await target(request)
    await check_may_change(request, viewer, user)
    if request.method == "GET":
        typed = {"email": user.email or "", "phone_number": user.phone_number or ""}
        typed |= {c: str(user.profile.get(c) or "") for c in NAME_CLAIMS}
        flags = {
            "email_verified": user.email_verified,
            "phone_number_verified": user.phone_number_verified,
        }
        return _edit_page(request, viewer, user, typed, flags, {})
    form = await form_of(request)
    typed = {n: text(form, n) for n in _EDIT_FIELDS}
    flags = {f: form.get(f) == "on" for f in ("email_verified", "phone_number_verified")}
    data: dict[str, Any] = {
        "email": optional(form, "email"),
        "phone_number": optional(form, "phone_number"),
        "profile": {c: optional(form, c) for c in NAME_CLAIMS},
    }
    # A box left as it was says nothing: a new address starts unverified (as in the API).
    if flags["email_verified"] != user.email_verified or data["email"] == user.email:
        data["email_verified"] = flags["email_verified"]
    if flags["phone_number_verified"] != user.phone_number_verified:
        data["phone_number_verified"] = flags["phone_number_verified"]
    try:
        body = UserPatch.model_validate(data)
    except ValidationError as exc:
        return _edit_page(request, viewer, user, typed, flags, user_field_errors(exc))
    try:
        await operations.update(services_of(request), viewer.caller, user.id, body)
    except Problem as problem:
        errors = problem_errors(problem, {"address": "email", "email": "email"})
        return _edit_page(request, viewer, user, typed, flags, errors)
    return render.redirect(request, f"/admin/users/{user.id}", "Profile saved.")


def _edit_page(
    request: Request,
    viewer: Viewer,
    user: User,
    typed: dict[str, str],
    flags: dict[str, bool],
    errors: Errors,
) -> Response:
    return render.page(
        request,
        viewer,
        "user_edit.html",
        area=Area.USERS,
        status=422 if errors else 200,
        user=user,
        typed=typed,
        flags=flags,
        errors=errors,
    )


routes: list[BaseRoute] = [
    Route("/users/{user_id}", detail, methods=["GET"]),
    Route("/users/{user_id}/edit", edit, methods=["GET", "POST"]),
]
