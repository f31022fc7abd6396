"""The one strict JSON reader: SCIM bodies and filter literals, and the admin API's bodies.

RFC 8259 §8.1-8.2: JSON text is UTF-8 and its strings are Unicode. An escaped lone
surrogate (``"\\ud800"``) names no character; the standard library's ``json`` hands it
back as a ``str`` that no UTF-8 encoder (database driver, response writer) can write, so
it would fail late, after being stored. orjson refuses it while parsing, and with it
``NaN``, ``Infinity`` and nesting deeper than 1,024 levels, so nothing below this module
ever sees such a value.
"""

from __future__ import annotations

from typing import Any

import orjson


class InvalidJson(ValueError):
    """Refused input: ``reason`` is safe to show (it never quotes the input);
    ``unicode`` says the text was JSON but not valid Unicode (or held a NUL)."""

    def __init__(self, reason: str, unicode: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unicode = unicode


def loads(raw: bytes | str) -> Any:
    """Parse JSON text, refusing invalid Unicode and NUL characters anywhere in it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        unicode = "surrogate" in message or "UTF-8" in message
        raise InvalidJson(message, unicode) from None
    if holds_nul(value):
        # PostgreSQL cannot store NUL in text or jsonb; no SCIM attribute needs one.
        raise InvalidJson("strings must not contain NUL characters", True)
    return value


def holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
