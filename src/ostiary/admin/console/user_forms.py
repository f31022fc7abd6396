"""What the user pages share: reading a form, turning the API's validation into messages
next to fields, and the rule that only an admin acts on a holder of a console role."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request

from ostiary.admin.console.forms import FORM, Errors, Form, Loc, field_errors, form_of
from ostiary.admin.console.guard import Viewer, services_of
from ostiary.admin.console.permissions import check_privileged, console_roles
from ostiary.admin.problems import Problem
from ostiary.admin.resources import user_or_404
from ostiary.domain.users import User
from ostiary.services import Services

__all__ = ["Form", "form_of"]


def text(form: Form, name: str) -> str:
    """A text field as typed (a missing field reads as empty)."""
    return form.get(name) or ""


def optional(form: Form, name: str) -> str | None:
    """A text field trimmed, None when left empty (an empty email is no email)."""
    return form.text(name) or None


def user_field_errors(error: ValidationError, aliases: dict[str, str] | None = None) -> Errors:
    """One message per field from a pydantic error, a sentence each: a nested profile claim
    is shown at its own field, ``aliases`` renames the others."""

    def place(loc: Loc) -> str:
        name = (
            str(loc[1]) if len(loc) > 1 and loc[0] == "profile" else (str(loc[0]) if loc else FORM)
        )
        return (aliases or {}).get(name, name)

    return field_errors(error, place=place, note=lambda _name, _loc, m: m[:1].upper() + m[1:])


def problem_errors(problem: Problem, fields: dict[str, str]) -> Errors:
    """A problem next to the field it is about: ``fields`` maps a word of its detail to a
    field name; anything else goes on top of the form."""
    detail = problem.detail[:1].upper() + problem.detail[1:]
    for word, name in fields.items():
        if word in problem.detail:
            return {name: detail}
    return {"_form": detail}


async def target(request: Request) -> User:
    """The user the path names, or the 404 page."""
    return await user_or_404(services_of(request), request.path_params["user_id"])


async def held_console_roles(services: Services, user: User) -> frozenset[str]:
    return console_roles((await services.store.access.effective(user.id)).roles)


async def check_may_change(request: Request, viewer: Viewer, user: User) -> None:
    """Only an admin changes anything about a user who holds a console role: a new email
    address, password or factor, or an unlocked account, would let a user-admin sign in as
    them (``Forbidden`` becomes the 403 page)."""
    check_privileged(viewer.roles, await held_console_roles(services_of(request), user))
