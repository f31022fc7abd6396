"""Scope strings (RFC 6749 §3.3)."""

from __future__ import annotations

import re

from ostiary.domain.scopes import format_scope
from ostiary.errors import invalid_scope

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def is_scope_token(token: str) -> bool:
    return _SCOPE_TOKEN.fullmatch(token) is not None


def parse_scope(value: str | None) -> frozenset[str]:
    """Split a space-delimited scope parameter into a set; order and repeats don't matter."""
    if value is None:
        return frozenset()
    tokens = value.split(" ")
    result = set()
    for token in tokens:
        if token == "":
            continue
        if not is_scope_token(token):
            raise invalid_scope("scope contains a character outside RFC 6749 §3.3")
        result.add(token)
    return frozenset(result)


def check_allowed(requested: frozenset[str], allowed: frozenset[str]) -> frozenset[str]:
    """A client may only obtain scopes registered for it (RFC 6749 §3.3)."""
    extra = requested - allowed
    if extra:
        raise invalid_scope(f"scope not allowed for this client: {format_scope(extra)}")
    return requested
