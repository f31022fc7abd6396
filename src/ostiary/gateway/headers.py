"""Header rewriting at the proxy: hop-by-hop removal (RFC 9110 §7.6.1), Via (§7.6.3),
X-Forwarded-*, and identity headers that only the gateway may set."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Headers = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1 names these, and RFC 9112 §9.6 / §7 the connection-level ones.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
IDENTITY = frozenset(
    {
        b"x-forwarded-user",
        b"x-forwarded-email",
        b"x-forwarded-groups",
        b"x-forwarded-roles",
        b"x-forwarded-preferred-username",
    }
)
FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded"})
# The identity server's own cookies (``ostiary.web.browser``: the SSO session and the
# browser id). Host-only cookies ignore the port (RFC 6265 §8.5), so with the issuer on the
# gateway's host the browser sends them here too; an upstream holding the SSO session
# cookie could act as the user at the identity server. Named here because the gateway
# does not import the server.
OSTIARY_COOKIES = frozenset({b"ost_session", b"ost_browser"})
VIA = b"1.1 ostiary-gateway"


def without_hop_by_hop(
    headers: Iterable[tuple[bytes, bytes]], *, keep: Iterable[bytes] = ()
) -> Headers:
    """Drop the hop-by-hop fields and every field that Connection names (RFC 9110 §7.6.1)."""
    pairs = [(name.lower(), value) for name, value in headers]
    named = {
        token.strip().lower()
        for name, value in pairs
        if name == b"connection"
        for token in value.split(b",")
        if token.strip()
    }
    drop = (HOP_BY_HOP | named) - set(keep) if named or keep else HOP_BY_HOP
    return [(name, value) for name, value in pairs if name not in drop]


def upstream_request_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    client_ip: str | None,
    scheme: str,
    trust_forwarded: bool,
    strip: Iterable[bytes] = (),
    identity: Mapping[str, str] | None = None,
    drop_cookies: Iterable[str] = (),  # name prefixes of the gateway's own cookies
) -> Headers:
    """What the upstream receives: no hop-by-hop fields, no client-supplied identity
    headers, none of the gateway's or the identity server's cookies, the gateway's
    forwarding headers, then the verified identity."""
    # Expect was answered by the ASGI server already (RFC 9110 §10.1.1); Host is the upstream's.
    removed = IDENTITY | set(strip) | {b"host", b"via", b"expect"}
    if not trust_forwarded:
        removed |= FORWARDED
    incoming = without_hop_by_hop(headers)
    kept = [(name, value) for name, value in incoming if name not in removed]
    host = next((value for name, value in incoming if name == b"host"), None)
    cookies = [value for name, value in kept if name == b"cookie"]
    kept = [(name, value) for name, value in kept if name != b"cookie"]
    prefixes = tuple(prefix.encode("latin-1") for prefix in drop_cookies)
    cookie = _without_cookies(cookies, prefixes) if cookies else b""
    if cookie:
        kept.append((b"cookie", cookie))
    prior_for = b", ".join(value for name, value in kept if name == b"x-forwarded-for")
    # Behind a trusted proxy, the scheme and host the user saw are the ones it reports.
    proto = next((v for n, v in kept if n == b"x-forwarded-proto"), scheme.encode())
    host = next((v for n, v in kept if n == b"x-forwarded-host"), host)
    kept = [(name, value) for name, value in kept if name not in FORWARDED - {b"forwarded"}]
    if client_ip:
        chain = prior_for + b", " + client_ip.encode() if prior_for else client_ip.encode()
        kept.append((b"x-forwarded-for", chain))
    kept.append((b"x-forwarded-proto", proto))
    if host is not None:
        kept.append((b"x-forwarded-host", host))
    kept.append((b"via", VIA))
    for name, value in (identity or {}).items():
        kept.append((name.encode(), _header_safe(value)))
    return kept


def upstream_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """What the client receives from the upstream: no hop-by-hop fields, our Via added."""
    kept: Headers = []
    via: list[bytes] = []
    for name, value in without_hop_by_hop(headers):
        if name == b"via":
            via.append(value)
        else:
            kept.append((name, value))
    kept.append((b"via", b", ".join(via) + b", " + VIA if via else VIA))
    return kept


def _without_cookies(headers: list[bytes], prefixes: tuple[bytes, ...]) -> bytes:
    """The Cookie header without the gateway's own cookies (names starting with one of
    ``prefixes``) and the identity server's (``OSTIARY_COOKIES``); every other cookie
    goes on byte for byte, and a header holding none of ours goes on as it came."""
    pairs = [pair.strip() for header in headers for pair in header.split(b";") if pair.strip()]
    kept = [pair for pair in pairs if not _ours(pair, prefixes)]
    if len(headers) == 1 and len(kept) == len(pairs):
        return headers[0]
    # RFC 9113 §8.2.3: several Cookie fields are joined with "; " into one.
    return b"; ".join(kept)


def _ours(pair: bytes, prefixes: tuple[bytes, ...]) -> bool:
    name = pair.partition(b"=")[0].strip()
    return name in OSTIARY_COOKIES or name.startswith(prefixes)


def _header_safe(value: str) -> bytes:
    """A claim as a header value: no CR/LF/NUL or other controls (RFC 9110 §5.5)."""
    cleaned = "".join(ch for ch in value if ch == "\t" or 0x20 <= ord(ch) != 0x7F)
    return cleaned.encode("utf-8")


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key.lower() == name]
