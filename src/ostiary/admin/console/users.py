"""Console pages: users — the search and the new-user form. The detail page and its
actions are ``user_detail`` and ``user_actions``; ``routes`` holds them all."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.console import render, user_actions, user_detail
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area
from ostiary.admin.console.user_forms import (
    Errors,
    form_of,
    optional,
    problem_errors,
    text,
    user_field_errors,
)
from ostiary.admin.operations import users as operations
from ostiary.admin.problems import Problem
from ostiary.admin.schemas import UserCreate
from ostiary.storage.queries.user_search import MAX_QUERY, SearchBy, search

PAGE_SIZE = 50
_CREATE_FIELDS = {
    "exists": "username",
    "address": "email",
    "email": "email",
    "password": "password",
}


@console_page(Area.USERS)
async def list_users(request: Request, viewer: Viewer) -> Response:
    """Search by username, email address or name; keyset pages (``cursor``)."""
    params = request.query_params
    q = params.get("q", "").strip()
    try:
        by = SearchBy(params.get("by", SearchBy.USERNAME))
    except ValueError:
        by = SearchBy.USERNAME
    error = f"Type at most {MAX_QUERY} characters." if len(q) > MAX_QUERY else None
    found = None
    if error is None:
        found = await search(
            services_of(request).engine,
            q,
            by,
            after=_decode(params.get("cursor")),
            limit=PAGE_SIZE,
        )
    next_url = None
    if found is not None and found.next_after is not None:
        query = urlencode({"q": q, "by": by.value, "cursor": _encode(found.next_after)})
        next_url = f"{render.base_path(request)}/admin/users?{query}"
    return render.page(
        request,
        viewer,
        "users.html",
        area=Area.USERS,
        status=422 if error else 200,
        q=q,
        by=by.value,
        kinds=[(k.value, k.value.capitalize()) for k in SearchBy],
        error=error,
        found=found,
        next_url=next_url,
    )


@console_page(Area.USERS, write=True)
async def new_user(request: Request, viewer: Viewer) -> Response:
    """The form (GET) and its submission (POST): a user with or without a password."""
    if request.method == "GET":
        return _new_page(request, viewer, {}, {})
    form = await form_of(request)
    typed = {n: text(form, n) for n in ("username", "email", "name")}
    send_reset = form.get("send_reset") == "on"
    data: dict[str, Any] = {"username": typed["username"].strip(), "email": optional(form, "email")}
    if optional(form, "name"):
        data["profile"] = {"name": typed["name"].strip()}
    if text(form, "password"):
        data["password"] = text(form, "password")
    try:
        body = UserCreate.model_validate(data)
    except ValidationError as exc:
        return _new_page(request, viewer, typed, user_field_errors(exc), send_reset)
    services = services_of(request)
    if send_reset and not services.settings.smtp.host:
        errors = {"_form": "No mail can be sent from this server (OSTIARY_SMTP__HOST)."}
        return _new_page(request, viewer, typed, errors, send_reset)
    if send_reset and body.email is None:
        errors = {"email": "An email address is needed to send a reset link."}
        return _new_page(request, viewer, typed, errors, send_reset)
    try:
        user = await operations.create(services, viewer.caller, body)
    except Problem as problem:
        errors = problem_errors(problem, _CREATE_FIELDS)
        return _new_page(request, viewer, typed, errors, send_reset)
    message = f"User {user.username} created."
    if send_reset:
        try:
            await operations.send_reset(services, viewer.caller, user)
            message += f" A link to choose a password was sent to {user.email}."
        except Problem as problem:
            message += f" No reset link was sent: {problem.detail}."
    return render.redirect(request, f"/admin/users/{user.id}", message)


def _new_page(
    request: Request, viewer: Viewer, typed: dict[str, str], errors: Errors, reset: bool = False
) -> Response:
    settings = services_of(request).settings
    return render.page(
        request,
        viewer,
        "users_new.html",
        area=Area.USERS,
        status=422 if errors else 200,
        typed=typed,
        errors=errors,
        send_reset=reset,
        can_mail=bool(settings.smtp.host),
        local_login=settings.local_login,
        min_length=settings.passwords.min_length,
    )


def _encode(key: str) -> str:
    # Opaque in the URL: a key may hold any character a username or address may.
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if not cursor or len(cursor) > 1000:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    # PostgreSQL cannot compare text holding NUL: a forged cursor starts from the top.
    return None if "\x00" in key else key


routes: list[BaseRoute] = [
    Route("/users", list_users, methods=["GET"]),
    Route("/users/new", new_user, methods=["GET", "POST"]),
    *user_detail.routes,
    *user_actions.routes,
]
