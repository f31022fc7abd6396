"""Finding what a path names (or a 404 problem), and recording what an admin changed."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Path, Request

from ostiary.admin.auth import Caller
from ostiary.admin.problems import not_found
from ostiary.domain.access import Group, Role
from ostiary.domain.clients import Client
from ostiary.domain.users import User
from ostiary.services import Services

# Path segments are looked up, never stored: any text up to a sane length will do.
UserId = Annotated[str, Path(max_length=200, description="The user's id.")]
ClientIdPath = Annotated[str, Path(max_length=200, description="The client_id.")]
GroupId = Annotated[str, Path(max_length=200, description="The group's id.")]
RolePath = Annotated[str, Path(max_length=200, description="The role's name.")]


async def user_or_404(services: Services, user_id: str) -> User:
    user = await services.store.users.get(user_id)
    if user is None:
        raise not_found(f"user {user_id!r}")
    return user


async def client_or_404(services: Services, client_id: str) -> Client:
    client = await services.store.clients.get(client_id)
    if client is None:
        raise not_found(f"client {client_id!r}")
    return client


async def group_or_404(services: Services, group_id: str) -> Group:
    group = await services.store.access.get_group(group_id)
    # get_group also matches names; the API names groups by id only.
    if group is None or group.id != group_id:
        raise not_found(f"group {group_id!r}")
    return group


async def role_or_404(services: Services, name: str) -> Role:
    role = await services.store.access.get_role(name)
    if role is None:
        raise not_found(f"role {name!r}")
    return role


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
