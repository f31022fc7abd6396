"""Parameter parsing shared by every endpoint (RFC 6749 §3.1, §3.2, Appendix B)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from ostiary.errors import invalid_request

MAX_PARAMS = 64
MAX_BODY = 64 * 1024


def parse_params(encoded: str | bytes) -> dict[str, str]:
    """Decode application/x-www-form-urlencoded data into single-valued parameters.

    RFC 6749 §3.1: parameters MUST NOT be included more than once, and parameters sent
    without a value MUST be treated as if they were omitted.
    """
    if isinstance(encoded, bytes):
        if len(encoded) > MAX_BODY:
            raise invalid_request("request too large")
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
        if name in seen:
            raise invalid_request(f"parameter '{name}' is repeated")
        seen.add(name)
        if "\x00" in value:
            raise invalid_request(f"parameter '{name}' contains a NUL character")
        if value != "":
            params[name] = value
    return params
