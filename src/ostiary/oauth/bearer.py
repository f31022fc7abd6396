"""The syntax of a Bearer token (RFC 6750 §2.1), shared by every endpoint that takes one."""

from __future__ import annotations

import re

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def is_b64token(value: str) -> bool:
    """Whether ``value`` may be a Bearer token at all. Anything else (non-ASCII header
    bytes, controls, spaces) is a malformed request (§3.1 invalid_request), answered
    without a token lookup."""
    return _B64TOKEN.fullmatch(value) is not None
