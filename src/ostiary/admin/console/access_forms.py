"""What the role, group, scope and audit pages share: a rejected body as messages next
to its fields, and the rule that only an admin changes a group granting a console role."""

from __future__ import annotations

from pydantic import ValidationError

from ostiary.admin.console.permissions import check_privileged
from ostiary.admin.problems import not_found
from ostiary.services import Services
from ostiary.storage.queries import access_pages
from ostiary.storage.queries import admin_views as queries

FORM = "_form"
Errors = dict[str, str]


def field_errors(exc: ValidationError) -> Errors:
    """One message per field (the first pydantic gives), keyed by the form's field name;
    a rule over several fields goes to the form as a whole."""
    errors: Errors = {}
    for err in exc.errors():
        loc = err.get("loc", ())
        name = str(loc[0]) if loc else FORM
        message = str(err.get("msg", "is not valid")).removeprefix("Value error, ")
        errors.setdefault(name, message)
    return errors


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


def path_key(value: str, what: str) -> str:
    """A path or query value to look up: one holding NUL names nothing (PostgreSQL cannot
    even compare it), so it is a 404 before any query."""
    if "\x00" in value:
        raise not_found(what)
    return value
