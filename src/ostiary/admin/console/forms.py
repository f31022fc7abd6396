"""The console's posted forms: url-encoded, size-limited, read once per request.

Unlike the OAuth endpoints (RFC 6749 §3.1 forbids repeated parameters), a console form may
repeat a name (checkboxes, multi-selects); ``Form.getlist`` gives every value. The CSRF
check and the page's handler share the one parse.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from ostiary.admin.problems import Problem
from ostiary.errors import OAuthError
from ostiary.oauth.params import read_body

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
