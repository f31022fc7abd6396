"""Console pages: what the buttons and small forms of a user's page do. Each is a POST
under /admin/users/{id}/..., goes through ``admin.operations`` (the admin API's own code
and audit events) and comes back to the user's page with a message (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ostiary.admin.console import render
from ostiary.admin.console.guard import Viewer, console_page, services_of
from ostiary.admin.console.permissions import Area, check_privileged
from ostiary.admin.console.user_detail import page_of
from ostiary.admin.console.user_forms import check_may_change, form_of, target, text
from ostiary.admin.operations import user_links
from ostiary.admin.operations import users as operations
from ostiary.admin.problems import Problem
from ostiary.admin.resources import group_or_404
from ostiary.admin.schemas import UserPatch
from ostiary.domain.users import User
from ostiary.storage.queries import admin_views

# An action: what it does to the user, and the sentence shown on the user's page after.
Action = Callable[[Request, Viewer, User], Awaitable[str | Response]]


def _action(action: Action) -> Callable[[Request], Awaitable[Response]]:
    """The shared steps: the user or 404, the console-role rule, the change, back to the
    user's page (or to the list when the user is gone)."""

    @console_page(Area.USERS)
    async def endpoint(request: Request, viewer: Viewer) -> Response:
        user = await target(request)
        await check_may_change(request, viewer, user)
        outcome = await action(request, viewer, user)
        if isinstance(outcome, Response):
            return outcome
        back = "/admin/users" if action is delete else f"/admin/users/{user.id}"
        return render.redirect(request, back, outcome)

    endpoint.__name__ = action.__name__
    return endpoint


async def disable(request: Request, viewer: Viewer, user: User) -> str:
    _not_yourself(viewer, user, "disable")
    await operations.set_disabled(services_of(request), viewer.caller, user, True)
    return f"{user.username} is disabled: their sessions ended and their tokens were revoked."


async def enable(request: Request, viewer: Viewer, user: User) -> str:
    await operations.set_disabled(services_of(request), viewer.caller, user, False)
    return f"{user.username} is enabled."


async def unlock(request: Request, viewer: Viewer, user: User) -> str:
    cleared = await user_links.unlock(services_of(request), viewer.caller, user)
    return "The account is unlocked." if cleared else "The account was not locked."


async def delete(request: Request, viewer: Viewer, user: User) -> str:
    _not_yourself(viewer, user, "delete")
    await operations.delete(services_of(request), viewer.caller, user.id)
    return f"User {user.username} deleted."


def _not_yourself(viewer: Viewer, user: User, verb: str) -> None:
    # The console would end with the admin's own session, and maybe the last admin.
    if user.id == viewer.user.id:
        raise Problem(409, f"You cannot {verb} your own account from the console.")


async def set_password(request: Request, viewer: Viewer, user: User) -> str | Response:
    form = await form_of(request)
    password, repeated = text(form, "password"), text(form, "password_repeat")
    try:
        # The API's own rule for a password (length limits), then the configured minimum.
        UserPatch.model_validate({"password": password})
        if password != repeated:
            return await page_of(
                request, viewer, user, {"password_repeat": "The two passwords differ."}
            )
        await operations.set_password(services_of(request), viewer.caller, user, password)
    except ValidationError:
        minimum = services_of(request).settings.passwords.min_length
        message = f"A password needs {minimum} to 1024 characters."
        return await page_of(request, viewer, user, {"password": message})
    except Problem as problem:
        return await page_of(
            request, viewer, user, {"password": problem.detail[:1].upper() + problem.detail[1:]}
        )
    return "The new password is set."


async def send_reset(request: Request, viewer: Viewer, user: User) -> str:
    await operations.send_reset(services_of(request), viewer.caller, user)
    return f"A link to choose a new password was sent to {user.email}."


async def reset_mfa(request: Request, viewer: Viewer, user: User) -> str:
    removed = await operations.reset_mfa(services_of(request), viewer.caller, user.id)
    return (
        f"Second factors removed: {len(removed.factors)}; sessions ended: {removed.sessions_ended}."
    )


async def remove_factor(request: Request, viewer: Viewer, user: User) -> str:
    factor_id = await _field(request, "factor_id")
    await operations.reset_mfa(services_of(request), viewer.caller, user.id, factor_id)
    return "The factor is removed and the user's sessions ended."


async def add_role(request: Request, viewer: Viewer, user: User) -> str:
    role = text(await form_of(request), "role").strip()
    if not role:
        raise Problem(422, "Choose a role to add.")
    check_privileged(viewer.roles, [role])
    added = await user_links.assign_role(services_of(request), viewer.caller, user.id, role)
    return f"Role {role} added." if added else f"{user.username} had the role {role} already."


async def remove_role(request: Request, viewer: Viewer, user: User) -> str:
    role = await _field(request, "role")
    check_privileged(viewer.roles, [role])
    await user_links.unassign_role(services_of(request), viewer.caller, user.id, role)
    return f"Role {role} removed."


async def join_group(request: Request, viewer: Viewer, user: User) -> str:
    group_id = text(await form_of(request), "group_id").strip()
    if not group_id:
        raise Problem(422, "Choose a group to add the user to.")
    name = await _check_group(request, viewer, group_id)
    added = await user_links.join_group(services_of(request), viewer.caller, user.id, group_id)
    return f"Added to {name}." if added else f"{user.username} was a member of {name} already."


async def leave_group(request: Request, viewer: Viewer, user: User) -> str:
    group_id = await _field(request, "group_id")
    name = await _check_group(request, viewer, group_id)
    await user_links.leave_group(services_of(request), viewer.caller, user.id, group_id)
    return f"Removed from {name}."


async def _check_group(request: Request, viewer: Viewer, group_id: str) -> str:
    """A group passes on its roles and those of every group above it: joining or leaving
    one that carries a console role grants or takes that role."""
    services = services_of(request)
    group = await group_or_404(services, group_id)
    above, _ = await admin_views.reach(services.engine, group.id, upward=True)
    carried: set[str] = set()
    for each in {group.id, *above}:
        carried.update(await services.store.access.group_role_names(each))
    check_privileged(viewer.roles, carried)
    return group.name


async def end_sessions(request: Request, viewer: Viewer, user: User) -> str:
    ended = await user_links.end_all_sessions(services_of(request), viewer.caller, user.id)
    return f"Sessions ended: {ended}."


async def end_session(request: Request, viewer: Viewer, user: User) -> str:
    sid = await _field(request, "sid")
    await user_links.end_session(services_of(request), viewer.caller, user.id, sid)
    return "The session ended."


async def revoke_consent(request: Request, viewer: Viewer, user: User) -> str:
    client_id = await _field(request, "client_id")
    await user_links.revoke_consent(services_of(request), viewer.caller, user.id, client_id)
    return f"The consent given to {client_id} is revoked."


async def unlink_identity(request: Request, viewer: Viewer, user: User) -> str:
    provider = await _field(request, "provider")
    # The link's key is (provider, upstream subject); a subject is the upstream's to
    # choose, spaces included, so it is taken as sent (not trimmed).
    subject = (await form_of(request)).get("subject") or ""
    if not subject or len(subject) > 255:
        raise Problem(404, "There is no such subject.")
    await user_links.unlink_identity(
        services_of(request), viewer.caller, user.id, provider, subject
    )
    return f"The {provider} identity {subject} is unlinked."


async def _field(request: Request, name: str) -> str:
    """What a button names (a hidden field: a role or client id may hold a slash)."""
    value = (await form_of(request)).text(name)
    if not value or len(value) > 200:
        raise Problem(404, f"There is no such {name.replace('_', ' ')}.")
    return value


_ACTIONS: list[tuple[str, Action]] = [
    ("disable", disable),
    ("enable", enable),
    ("unlock", unlock),
    ("delete", delete),
    ("password", set_password),
    ("reset-email", send_reset),
    ("mfa/reset", reset_mfa),
    ("mfa/remove", remove_factor),
    ("roles/add", add_role),
    ("roles/remove", remove_role),
    ("groups/add", join_group),
    ("groups/remove", leave_group),
    ("sessions/end", end_sessions),
    ("sessions/end-one", end_session),
    ("consents/revoke", revoke_consent),
    ("identities/unlink", unlink_identity),
]


routes: list[BaseRoute] = [
    Route(f"/users/{{user_id}}/{path}", _action(action), methods=["POST"])
    for path, action in _ACTIONS
]
