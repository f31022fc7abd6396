"""Protected resources (RFC 8707): the registry's entries, the one rule for their URIs, and
what a token is issued for."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# The column's width (migration 0013).
MAX_URI = 2000
MAX_NAME = 200
# RFC 3986 §2: a URI's characters are the unreserved and reserved ones and '%'; anything
# else (an IRI, white space, '"', a backslash, '{') is refused rather than normalised,
# since URIs are compared exactly.
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# A host name's characters, or an IP literal's: a registered URI is matched as a whole
# string, so patterns or placeholders ('*', '{tenant}') would never match anything.
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")
_LOOPBACK_NAMES = frozenset({"localhost"})
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True, slots=True)
class Resource:
    """A protected resource: its URI is the ``aud`` of the tokens issued for it, and it
    accepts only ``scopes`` (a token's scopes are narrowed to them)."""

    uri: str
    name: str
    scopes: frozenset[str]
    created_at: int


@dataclass(frozen=True, slots=True)
class Target:
    """What an access token is issued for when the client named resources (RFC 8707 §2).

    ``audience``: the token's ``aud``; ``scopes``: the token's scopes, those of the grant
    that the audience accepts; ``granted``: the resources the grant holds (a code's, a
    refresh token's), which a refresh token issued beside the access token keeps whole
    (§2.2), however narrow this one access token is."""

    audience: tuple[str, ...]
    scopes: frozenset[str]
    granted: tuple[str, ...]


def uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot name a protected resource, or None if it can: the one rule of
    the command line, the admin API and the authorization and token endpoints.

    RFC 8707 §2: an absolute URI (RFC 3986 §4.3) without a fragment. Policy on top: https,
    or http on a loopback host (development), a host name or IP literal, no user
    information, at most ``MAX_URI`` characters.
    """
    if not uri:
        return "is empty"
    if len(uri) > MAX_URI:
        return f"is longer than {MAX_URI} characters"
    if not _URI_CHARACTERS.fullmatch(uri):
        return "holds a character a URI cannot hold (RFC 3986 §2)"
    # RFC 8707 §2: the URI MUST NOT include a fragment component.
    if "#" in uri:
        return "must not contain a fragment (RFC 8707 §2)"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URI"
    # RFC 8707 §2: its value MUST be an absolute URI (a scheme, RFC 3986 §4.3).
    if not _SCHEME.match(uri):
        return "must be an absolute URI (RFC 8707 §2)"
    # Lowercase only: URIs are compared as exact strings, never normalised.
    if not uri.startswith(("https:", "http:")):
        return "must be an https URI"
    if not uri.startswith(("https://", "http://")) or not parts.hostname:
        return "must name a host"
    if "@" in parts.netloc:
        return "must not contain user information"
    host = parts.netloc.rpartition(":")[0] if parts.port is not None else parts.netloc
    if not _HOST.fullmatch(host):
        return "must name a host name or an IP address"
    if parts.scheme == "http" and not _loopback(parts.hostname):
        return "must use https (plain http only on a loopback host)"
    return None


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
