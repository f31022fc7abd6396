"""Redirect URI registration rules and matching (RFC 6749 §3.1.2, RFC 9700 §4.1, RFC 8252)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_FORBIDDEN_SCHEMES = {"javascript", "data", "vbscript", "file", "about", "blob"}


def _loopback_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# A host name's characters: letters and digits of any script, hyphen, dot, underscore.
# Anything else in a host ('*', '{tenant}', '%2A', a regular expression) is a pattern or
# a placeholder, which exact matching would never expand.
_HOST_PUNCTUATION = frozenset("-._")
WILDCARD = (
    "must not contain a wildcard '*': redirect URIs are compared as exact strings "
    "(RFC 9700 §4.1.3), so register each URI in full"
)


def _host_problem(host: str) -> str | None:
    if _ip_literal(host) or all(c.isalnum() or c in _HOST_PUNCTUATION for c in host):
        return None
    return (
        f"host {host!r} is not a host name: patterns and placeholders are not supported "
        "(RFC 9700 §4.1.3 exact matching); register each URI in full"
    )


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def registration_problem(uri: str) -> str | None:
    """Why this URI may not be registered, or None if it may."""
    # RFC 9700 §4.1.3, §2.1: exact string matching, so no wildcard anywhere (host, path,
    # port or query): a '*' registered in the belief that it matches more never would.
    if "*" in uri:
        return WILDCARD
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
    if scheme in ("http", "https") and parts.hostname:
        problem = _host_problem(parts.hostname)
        if problem:
            return problem
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


# A loopback redirect URI split into host, optional port and the rest, strictly: no
# normalisation (case, white space, empty port) of the kind urlsplit() applies.
_LOOPBACK = re.compile(r"http://(127\.0\.0\.1|\[::1\])(?::([0-9]{1,5}))?([/?][\x21-\x7e]*)?")


def matches(requested: str, registered: str, *, native: bool) -> bool:
    """Exact string comparison (RFC 9700 §4.1.3), with one exception for native clients.

    RFC 8252 §7.3: for a loopback IP literal with http, the port may differ, since native
    apps bind an ephemeral port at run time. That is a native (public) client's need only: a
    confidential web client's loopback URI is a fixed development server, and any other
    port on the machine may belong to someone else, so it gets exact matching (RFC 9700
    §4.1.3, §2.1). Everything else must be identical.
    """
    if requested == registered:
        return True
    if not native:
        return False
    reg = _LOOPBACK.fullmatch(registered)
    req = _LOOPBACK.fullmatch(requested)
    if reg is None or req is None or "#" in requested:
        return False
    port = req.group(2)
    if port is not None and not 0 < int(port) <= 65535:
        return False
    return req.group(1) == reg.group(1) and (req.group(3) or "") == (reg.group(3) or "")


def find_match(requested: str, registered: tuple[str, ...], *, native: bool) -> str | None:
    """The registered URI ``requested`` matches; ``native``: the client is a public (native)
    client, to which the loopback port exception applies."""
    return next((uri for uri in registered if matches(requested, uri, native=native)), None)


def stored_problems(uris: Iterable[tuple[str, str]]) -> list[str]:
    """For (what, URI) pairs stored before today's rules: a warning for each one the rules
    now refuse. Read paths show such rows as stored and they match only themselves."""
    return [
        f"{what} {uri!r} would be refused today ({problem}); it matches only itself exactly"
        for what, uri in uris
        if (problem := registration_problem(uri))
    ]
