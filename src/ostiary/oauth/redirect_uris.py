"""Redirect URI registration rules and matching (RFC 6749 §3.1.2, RFC 9700 §4.1, RFC 8252)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_FORBIDDEN_SCHEMES = {"javascript", "data", "vbscript", "file", "about", "blob"}


def _loopback_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def registration_problem(uri: str) -> str | None:
    """Why this URI may not be registered, or None if it may."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not a valid URI"
    if not parts.scheme:
        return "must be an absolute URI"
    if "#" in uri:
        # RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component.
        return "must not contain a fragment"
    if any(c.isspace() for c in uri):
        return "must not contain white space"
    scheme = parts.scheme.lower()
    if scheme in _FORBIDDEN_SCHEMES:
        return f"scheme '{scheme}' is not allowed"
    if scheme == "https":
        return None if parts.hostname else "https URI needs a host"
    if scheme == "http":
        # RFC 8252 §7.3 / RFC 9700 §2.6: plain http only for loopback (native apps, dev).
        if _loopback_ip(parts.hostname) or parts.hostname == "localhost":
            return None
        return "http is only allowed for loopback hosts; use https"
    # RFC 8252 §7.1: private-use schemes are reverse domain names, so they contain a dot.
    if "." in scheme:
        return None
    return "private-use schemes must be reverse domain names (e.g. com.example.app)"


def matches(requested: str, registered: str) -> bool:
    """Exact string comparison (RFC 9700 §4.1.3), with one exception.

    RFC 8252 §7.3: for a loopback IP literal with http, the port may differ, since native
    apps bind an ephemeral port at run time. Everything else must be identical.
    """
    if requested == registered:
        return True
    try:
        req, reg = urlsplit(requested), urlsplit(registered)
        req_port, reg_port = req.port, reg.port
    except ValueError:
        return False
    del req_port, reg_port
    if reg.scheme != "http" or req.scheme != "http" or not _loopback_ip(reg.hostname):
        return False
    return (
        req.hostname == reg.hostname
        and _netloc_without_port(req.netloc) == _netloc_without_port(reg.netloc)
        and req.path == reg.path
        and req.query == reg.query
        and req.fragment == "" == reg.fragment
        and "#" not in requested
    )


def _netloc_without_port(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def find_match(requested: str, registered: tuple[str, ...]) -> str | None:
    return next((uri for uri in registered if matches(requested, uri)), None)
