"""The client's TLS certificate as a TLS-terminating proxy passes it on (RFC 8705 mutual
TLS behind a proxy): read from one request header, believed only from the proxy's address.

Python's ASGI and WSGI servers do not expose the certificate of a mutual-TLS handshake
reliably, so the proxy in front checks the handshake (and, for PKI certificates, the
chain) and forwards the certificate; this module trusts nothing else. Both the
authorization server and the resource kit read it here: one rule for both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from cryptography import x509

# RFC 8705 §3.1: the confirmation member of a certificate-bound token.
X5T_S256 = "x5t#S256"
# The scope key under which ``ostiary serve``'s HTTP protocol keeps the socket's peer, which
# uvicorn's X-Forwarded-For handling leaves as it is (observability.request_id.PEER).
PEER = "ostiary.peer"
# A certificate chain of a few kilobytes fits many times; anything longer is no certificate.
MAX_HEADER_LENGTH = 16 * 1024
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.1: a field name
_SPACE = re.compile(r"\s+")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CertificateError(ValueError):
    """The proxy's header holds no certificate this module can read."""


def x5t_s256(der: bytes) -> str:
    """RFC 8705 §3.1: base64url (no padding) of the SHA-256 of the certificate's DER."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


class ClientCertificate:
    """A certificate as the proxy passed it: its DER, the thumbprint computed once when first
    asked for, and the parsed certificate only when something reads its fields."""

    __slots__ = ("_thumbprint", "_x509", "der")

    def __init__(self, der: bytes) -> None:
        self.der = der
        self._thumbprint: str | None = None
        self._x509: x509.Certificate | None = None

    @property
    def thumbprint(self) -> str:
        if self._thumbprint is None:
            self._thumbprint = x5t_s256(self.der)
        return self._thumbprint

    def matches(self, thumbprint: str) -> bool:
        """Whether this is the certificate of an ``x5t#S256`` (a constant-time comparison)."""
        return hmac.compare_digest(self.thumbprint.encode(), thumbprint.encode("utf-8"))

    @property
    def x509(self) -> x509.Certificate:
        if self._x509 is None:
            try:
                self._x509 = x509.load_der_x509_certificate(self.der)
            except ValueError:
                raise CertificateError("the client certificate cannot be parsed") from None
        return self._x509


def parse_certificate(value: str) -> ClientCertificate:
    """The certificate of a header value: PEM, URL-encoded or not (nginx's
    ``$ssl_client_escaped_cert``; newlines may have become spaces), RFC 9440's
    ``:base64 DER:``, or base64 DER. Only the first certificate of a PEM chain counts: the
    client's own."""
    if len(value) > MAX_HEADER_LENGTH:
        raise CertificateError("the client certificate header is too long")
    text = value.strip()
    if "%" in text:
        try:
            text = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise CertificateError("the client certificate header is not URL-encoded PEM") from None
    if text.startswith(":") and text.endswith(":") and len(text) > 1:
        text = text[1:-1]  # RFC 9440 §2.2: a structured-field byte sequence
    elif "-----BEGIN" in text:
        found = _PEM.search(text)
        if found is None:
            raise CertificateError("the client certificate header holds no PEM certificate")
        text = found.group(1)
    try:
        der = binascii.a2b_base64(_SPACE.sub("", text).encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeError, ValueError):
        raise CertificateError("the client certificate is not base64") from None
    # A DER certificate is a SEQUENCE (X.690 §8.9, RFC 5280 §4.1).
    if len(der) < 16 or der[0] != 0x30:
        raise CertificateError("the client certificate header holds no DER certificate")
    return ClientCertificate(der)


def networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR networks, as a comma-separated string or an iterable."""
    entries = spec.split(",") if isinstance(spec, str) else spec
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def trusted(address: str | None, among: tuple[Network, ...]) -> bool:
    if not address or not among:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in among)


class CertificateHeader:
    """The request header in which trusted proxies pass the client's certificate.

    From any other address the header is ignored, as if absent: a client that reaches the
    app around the proxy could write any certificate in it. The proxy must also overwrite
    (never append to) a header of that name the client sent."""

    def __init__(self, name: str, trusted_proxies: str | Iterable[str]) -> None:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{name!r} is not a header name")
        self.name = name.lower().encode("ascii")
        self._environ_key = "HTTP_" + name.upper().replace("-", "_")
        self.proxies = networks(trusted_proxies)
        if not self.proxies:
            raise ValueError("a client certificate header needs the proxies it is trusted from")

    def from_headers(
        self, headers: Iterable[tuple[bytes, bytes]], peer: str | None
    ) -> ClientCertificate | None:
        """The certificate in ``headers`` of a request from ``peer`` (None: none, or not
        from a trusted proxy); CertificateError for a header that holds none."""
        if not trusted(peer, self.proxies):
            return None
        values = [value for key, value in headers if key.lower() == self.name]
        if not values:
            return None
        if len(values) > 1:
            raise CertificateError("more than one client certificate header")
        text = values[0].decode("latin-1").strip()
        # nginx sends the header empty when the client presented no certificate.
        return parse_certificate(text) if text else None

    def from_scope(self, scope: Mapping[str, Any]) -> ClientCertificate | None:
        """The certificate of an ASGI request: its peer is the socket's (``PEER`` when
        ``ostiary serve``'s protocol set it, else ``client``)."""
        peer = scope.get(PEER) or scope.get("client")
        return self.from_headers(scope.get("headers", ()), peer[0] if peer else None)

    def from_environ(self, environ: Mapping[str, Any]) -> ClientCertificate | None:
        """The certificate of a WSGI request (PEP 3333: ``REMOTE_ADDR`` is the peer)."""
        if not trusted(environ.get("REMOTE_ADDR"), self.proxies):
            return None
        value = environ.get(self._environ_key)
        text = value.strip() if isinstance(value, str) else ""
        return parse_certificate(text) if text else None


# What an adapter hands the token check: the certificate, or how to read it when a token
# turns out to be certificate-bound (a request with a plain bearer token reads nothing).
CertificateSource = ClientCertificate | Callable[[], ClientCertificate | None] | None


def resolve_certificate(source: CertificateSource) -> ClientCertificate | None:
    return source() if callable(source) else source
