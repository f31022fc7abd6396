"""The console's posted forms: url-encoded, size-limited, read once per request.

Unlike the OAuth endpoints (RFC 6749 §3.1 forbids repeated parameters), a console form may
repeat a name (checkboxes, multi-selects); ``Form.getlist`` gives every value. The CSRF
check and the page's handler share the one parse.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request

from ostiary.admin.problems import Problem
from ostiary.errors import OAuthError
from ostiary.oauth.params import read_body

# The key of an error about the form as a whole (shown above it).
FORM = "_form"
Errors = dict[str, str]
Loc = tuple[int | str, ...]
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 1000
_KEY = "ostiary.console.form"


class Form:
    """A posted form: names to values, in the order sent."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value sent under ``name``."""
        return next((v for k, v in self._pairs if k == name), default)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name]

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self._pairs)

    def text(self, name: str) -> str:
        """The value trimmed, empty when absent."""
        return (self.get(name) or "").strip()


async def form_of(request: Request) -> Form:
    """The request's form (400 when it is not a form or not UTF-8, 413 when too large)."""
    cached: Form | None = request.scope.get(_KEY)
    if cached is not None:
        return cached
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Problem(400, "The console accepts url-encoded forms only.")
    try:
        body = await read_body(request.stream(), MAX_FORM_BYTES)
    except OAuthError:
        raise Problem(413, "This form is too large.") from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "This form could not be read (not UTF-8, or too many fields).") from None
    # PostgreSQL cannot hold NUL in text: refused here for every field alike.
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise Problem(400, "A form field must not contain NUL characters.")
    form = Form(pairs)
    request.scope[_KEY] = form
    return form


def field_errors(
    exc: ValidationError,
    *,
    place: Callable[[Loc], str] | None = None,
    note: Callable[[str, Loc, str], str] | None = None,
) -> Errors:
    """One message per form field from a body the API's schema refused (the first pydantic
    gives): ``place`` names the form field of an error's location (by default its first
    member), ``note`` adds to a message (e.g. a textarea's line). Never the input: it may
    be a password."""
    errors: Errors = {}
    for item in exc.errors(include_input=False, include_url=False):
        loc: Loc = tuple(item.get("loc", ()))
        name = place(loc) if place else (str(loc[0]) if loc else FORM)
        message = str(item.get("msg", "is not valid")).removeprefix("Value error, ")
        errors.setdefault(name, note(name, loc, message) if note else message)
    return errors
