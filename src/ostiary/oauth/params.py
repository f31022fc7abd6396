"""Parameter parsing shared by every endpoint (RFC 6749 §3.1, §3.2, Appendix B)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping
from urllib.parse import parse_qsl

from ostiary.errors import invalid_request

MAX_PARAMS = 64
MAX_BODY = 64 * 1024
# RFC 8707 §2: the one parameter that may be given more than once (one resource each).
# Its values travel in one entry, separated by spaces, each escaped ('%' as %25, ' ' as
# %20) so that no value can split into two or two merge into one: ``values`` reads them.
REPEATABLE = frozenset({"resource"})
_ESCAPED = re.compile(r"%2[05]")


async def read_body(chunks: AsyncIterator[bytes], limit: int = MAX_BODY) -> bytes:
    """A request body from its chunks, refused (invalid_request) as soon as it passes
    ``limit`` bytes: a form is never buffered whole before its size is known."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise invalid_request("request too large")
        parts.append(chunk)
    return b"".join(parts)


def parse_params(encoded: str | bytes, limit: int = MAX_BODY) -> dict[str, str]:
    """Decode application/x-www-form-urlencoded data into single-valued parameters, of at
    most ``limit`` bytes.

    RFC 6749 §3.1: parameters MUST NOT be included more than once (but ``resource``,
    RFC 8707 §2: see ``REPEATABLE``), and parameters sent without a value MUST be treated
    as if they were omitted.
    """
    if len(encoded) > limit:
        # Characters of a str are at least as many bytes: a str this long is too large.
        raise invalid_request("request too large")
    if isinstance(encoded, bytes):
        try:
            encoded = encoded.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_request("parameters are not valid UTF-8") from None
    try:
        pairs = parse_qsl(
            encoded,
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_PARAMS,
            errors="strict",
        )
    except UnicodeDecodeError:
        # Percent-escapes that are not UTF-8 would otherwise turn into U+FFFD silently.
        raise invalid_request("parameters are not valid UTF-8") from None
    except ValueError:
        raise invalid_request("too many parameters") from None
    params: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen and name not in REPEATABLE:
            raise invalid_request(f"parameter '{name}' is repeated")
        seen.add(name)
        if "\x00" in value:
            raise invalid_request(f"parameter '{name}' contains a NUL character")
        if value == "":
            continue
        if name in REPEATABLE:
            escaped = join_values([value])
            value = f"{params[name]} {escaped}" if name in params else escaped
        params[name] = value
    return params


def join_values(given: Iterable[str]) -> str:
    """The one entry the values of a ``REPEATABLE`` parameter travel in (what ``values``
    reads back): for a request object's (RFC 9101) ``resource`` array, say."""
    return " ".join(value.replace("%", "%25").replace(" ", "%20") for value in given)


def values(params: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Every value of the ``REPEATABLE`` parameter ``name``, in the order given."""
    joined = params.get(name)
    if joined is None:
        return ()
    return tuple(_ESCAPED.sub(_unescape, value) for value in joined.split(" "))


def _unescape(match: re.Match[str]) -> str:
    return "%" if match[0] == "%25" else " "
