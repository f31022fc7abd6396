"""The RFC 6750 §3 ``WWW-Authenticate: Bearer`` challenge, built in this one place for
every surface that takes Bearer tokens (resource kit, gateway, UserInfo, admin API, SCIM),
and its RFC 9449 §7.1 ``DPoP`` twin for the kit and the gateway."""

from __future__ import annotations


def quoted(value: str) -> str:
    """An auth-param value as a quoted-string. RFC 6750 §3 allows only %x20-21 / %x23-5B /
    %x5D-7E in error, error_description and scope, so anything else ('"', '\\', controls,
    non-ASCII) is left out rather than escaped: the header stays one printable line."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    cleaned = "".join(ch for ch in value if 0x20 <= ord(ch) < 0x7F and ch not in '"\\')
    return f'"{cleaned}"'


def challenge(
    realm: str,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    *,
    scheme: str = "Bearer",
    algs: str | None = None,
) -> str:
    """``Bearer realm="...", error="...", error_description="...", scope="..."`` with the
    attributes that are given, in that order (RFC 6750 §3). Without credentials in the
    request there is no error code and no description (§3.1). With ``scheme="DPoP"``,
    the same attributes and ``algs``, the proof algorithms accepted (RFC 9449 §7.1)."""
    parts = [f"realm={quoted(realm)}"]
    if error:
        parts.append(f"error={quoted(error)}")
    if description:
        parts.append(f"error_description={quoted(description)}")
    if scope:
        # RFC 6750 §3: the scope the request needs, space-delimited as in RFC 6749 §3.3.
        parts.append(f"scope={quoted(scope)}")
    if algs:
        parts.append(f"algs={quoted(algs)}")
    return f"{scheme} " + ", ".join(parts)
