"""The ``htu`` of a DPoP proof against the URL of the request it came with (RFC 9449 §4.3
(9)): both without query and fragment, compared after RFC 3986 §6.2.2 syntax-based and
§6.2.3 scheme-based normalisation; and the request's URL as the client saw it."""

from __future__ import annotations

import functools
import string

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# RFC 3986 §2.2 reserved characters and "%": everything else is percent-encoded first, so
# a client that encoded "|" and a server that received it raw still agree.
_KEPT = _UNRESERVED | frozenset(":/?#[]@!$&'()*+,;=")
_HEX = frozenset(string.hexdigits)
MAX_URI_LENGTH = 4096


def _default_port(scheme: str) -> str:
    return "80" if scheme == "http" else "443"


@functools.lru_cache(maxsize=512)
def normalise_uri(uri: str) -> str | None:
    """``scheme://host[:port]/path`` in normal form, query and fragment dropped; None when
    ``uri`` is not an absolute http(s) URI with a host and no userinfo.

    Remembered for the last 512 URIs (an API sees few, and each proof names one): a pure
    function of a string of bounded length."""
    # ASCII without controls (isprintable: no Cc, so no DEL either) or spaces.
    if len(uri) > MAX_URI_LENGTH or not uri.isascii() or not uri.isprintable() or " " in uri:
        return None
    # RFC 9449 §4.2: htu is the URI "without query and fragment parts".
    uri = uri.partition("#")[0].partition("?")[0]
    scheme, sep, rest = uri.partition("://")
    # RFC 3986 §6.2.2.1: the scheme is case-insensitive.
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        return None
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    host = _host(authority, scheme)
    if host is None:
        return None
    normal_path = normalise_path(path)
    return None if normal_path is None else f"{scheme}://{host}{normal_path}"


def _host(authority: str, scheme: str) -> str | None:
    """host[:port], lower case, without a default or empty port (RFC 3986 §6.2.3)."""
    if not authority or "@" in authority or "%" in authority:
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host, port_part = authority[: end + 1], authority[end + 1 :]
    else:
        host, _, port = authority.partition(":")
        port_part = ":" + port if ":" in authority else ""
    if not host or (port_part and not port_part.startswith(":")):
        return None
    port = port_part[1:]
    if port and not (port.isdigit() and int(port) <= 65535):
        return None
    # RFC 3986 §6.2.2.1: the host is case-insensitive.
    host = host.lower()
    if not port or str(int(port)) == _default_port(scheme):
        return host
    return f"{host}:{int(port)}"


def normalise_path(path: str) -> str | None:
    """RFC 3986 §6.2.2: upper-case percent-encoding, unreserved characters decoded, dot
    segments removed; an empty path is "/" (§6.2.3). None for a malformed escape."""
    if "%" not in path and "/." not in path and _KEPT.issuperset(path):
        return path or "/"  # already normal: the common case, without the loop below
    out: list[str] = []
    i, n = 0, len(path)
    while i < n:
        ch = path[i]
        if ch == "%":
            pair = path[i + 1 : i + 3]
            if len(pair) != 2 or not _HEX.issuperset(pair):
                return None
            decoded = chr(int(pair, 16))
            # §6.2.2.2: percent-encoded unreserved characters are decoded.
            out.append(decoded if decoded in _UNRESERVED else "%" + pair.upper())
            i += 3
            continue
        out.append(ch if ch in _KEPT else "".join(f"%{b:02X}" for b in ch.encode()))
        i += 1
    # §6.2.2.3: dot segments go, as in reference resolution (§5.2.4).
    return remove_dot_segments("".join(out)) or "/"


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, on a path that is empty or starts with "/"."""
    segments = path.split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments[1:], start=1):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                kept.append("")
        elif segment == "..":
            if kept:
                kept.pop()
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "".join("/" + segment for segment in kept)


def same_uri(htu: str, url: str) -> bool:
    """Whether a proof's ``htu`` names the request URL ``url`` (RFC 9449 §4.3 (9))."""
    if htu == url and "?" not in url and "#" not in url and "%" not in url:
        return normalise_uri(url) is not None  # the common case: one normalisation
    left = normalise_uri(htu)
    return left is not None and left == normalise_uri(url)


def request_url(scheme: str, host: str, raw_path: bytes | str) -> str:
    """The URL a request was made to, from its parts: ``raw_path`` as sent (query dropped),
    any byte outside the URI characters percent-encoded; ws/wss count as http/https."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme.lower())
    raw = raw_path.encode("latin-1") if isinstance(raw_path, str) else raw_path
    raw = raw.partition(b"?")[0]
    path = "".join(chr(b) if chr(b) in _KEPT or b == 0x25 else f"%{b:02X}" for b in raw)
    return f"{scheme}://{host}{path}"


def external_url(
    *,
    scheme: str,
    host: str,
    raw_path: bytes | str,
    public_origin: str | None = None,
    forwarded_proto: str | None = None,
    forwarded_host: str | None = None,
) -> str:
    """The URL the client used: its path on ``public_origin`` when one is configured, else
    on the scheme and host the nearest proxy reports (X-Forwarded-Proto/-Host, the first
    of a list; pass them only from a proxy you trust), else on the request's own."""
    if public_origin is not None:
        scheme, _, host = public_origin.partition("://")
    else:
        scheme = (forwarded_proto or "").partition(",")[0].strip() or scheme
        host = (forwarded_host or "").partition(",")[0].strip() or host
    return request_url(scheme, host, raw_path)


def check_origin(origin: str) -> str:
    """A configured public origin (``https://api.example.com[:port]``), without a trailing
    "/"; ValueError for anything else (a path, query, userinfo, another scheme)."""
    trimmed = origin.rstrip("/")
    has_path = "/" in trimmed.partition("://")[2]
    if normalise_uri(trimmed) is None or has_path or "?" in origin or "#" in origin:
        raise ValueError(f"not an http(s) origin: {origin!r} (scheme://host[:port], no path)")
    return trimmed
