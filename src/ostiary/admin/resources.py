"""Finding what a path names (or a 404 problem), and recording what an admin changed."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Path, Request, Response

from ostiary.admin.auth import Caller
from ostiary.admin.problems import conflict, not_found
from ostiary.domain.access import AccessError, Group, Role
from ostiary.domain.clients import Client
from ostiary.domain.users import User
from ostiary.services import Services

# Path segments are looked up, never stored: any text up to a sane length will do.
UserId = Annotated[str, Path(max_length=200, description="The user's id.")]
ClientIdPath = Annotated[str, Path(max_length=200, description="The client_id.")]
GroupId = Annotated[str, Path(max_length=200, description="The group's id.")]
RolePath = Annotated[str, Path(max_length=200, description="The role's name.")]
T = TypeVar("T")


def found(thing: T | None, what: str) -> T:
    """What a lookup found, or the 404 problem naming ``what``."""
    if thing is None:
        raise not_found(what)
    return thing


async def user_or_404(services: Services, user_id: str) -> User:
    return found(await services.store.users.get(user_id), f"user {user_id!r}")


async def client_or_404(services: Services, client_id: str) -> Client:
    return found(await services.store.clients.get(client_id), f"client {client_id!r}")


async def group_or_404(services: Services, group_id: str) -> Group:
    group = await services.store.access.get_group(group_id)
    # get_group also matches names; the API names groups by id only.
    if group is None or group.id != group_id:
        raise not_found(f"group {group_id!r}")
    return group


async def role_or_404(services: Services, name: str) -> Role:
    return found(await services.store.access.get_role(name), f"role {name!r}")


async def new(creation: Awaitable[T], what: str) -> T:
    """What the access repository created, or the 409 problem when ``what`` exists."""
    try:
        return await creation
    except AccessError:
        raise conflict(f"{what} exists already") from None


async def updated(
    services: Services,
    caller: Caller,
    type: str,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    user_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """The audit event of a change: the public view (or the changed members) before and
    after."""
    details = {"before": before, "after": after}
    await record(services, caller, type, user_id=user_id, client_id=client_id, details=details)


def location(request: Request, *segments: str) -> str:
    """An absolute-path Location (RFC 9110 §10.2.2) under the mount point. Not
    ``request.url_for``: in a mounted app that searches the parent's routes."""
    root = request.scope.get("root_path", "")
    return root + "/" + "/".join(quote(s, safe="") for s in segments)


async def record(services: Services, caller: Caller, type: str, **fields: Any) -> None:
    """One audit event per change, written before the response. Details never hold a
    secret or a password hash: callers pass public views only."""
    fields.setdefault("ip", caller.ip)
    await services.audit.record(type, actor=caller.actor, **fields)


async def created(
    services: Services,
    caller: Caller,
    request: Request,
    response: Response,
    type: str,
    after: dict[str, Any],
    *segments: str,
    user_id: str | None = None,
    client_id: str | None = None,
) -> None:
    """The audit event of a new resource (its public view ``after``), and the response's
    Location naming it by ``segments``."""
    await record(
        services, caller, type, user_id=user_id, client_id=client_id, details={"after": after}
    )
    response.headers["Location"] = location(request, *segments)
