"""tls_client_auth and self_signed_tls_client_auth: the client proves itself with the
certificate of its mutual-TLS connection (RFC 8705 §2), which the TLS proxy in front
checked and passed on (``resource.client_cert``, read by web/token_routes.py)."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ostiary.cache.bounded import BoundedCache
from ostiary.domain.clients import Client
from ostiary.errors import invalid_client
from ostiary.oauth.client_auth.base import Presented
from ostiary.oauth.client_keys import ClientKeyError
from ostiary.resource.client_cert import CertificateError, ClientCertificate

if TYPE_CHECKING:
    from ostiary.oauth.deps import ClientAuthDeps

MTLS_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")
NOT_CONFIGURED = "mutual TLS is not configured on this server"

# Registered DNs as cryptography writes them, by the text registered (a few per client).
_normal: BoundedCache[str, str] = BoundedCache(4096, lru=False)


def normal_dn(text: str) -> str:
    """The RFC 4514 string of a distinguished name in cryptography's one spelling (known
    attribute names, its escaping), so that equal names compare equal as strings;
    ValueError for text that is no RFC 4514 DN."""
    normal = _normal.get(text)
    if normal is None:
        normal = x509.Name.from_rfc4514_string(text).rfc4514_string()
        _normal.put(text, normal)
    return normal


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def _is_registered(key: Any, certificate: ClientCertificate) -> bool:
    """RFC 8705 §2.2.2: a JWK carrying the certificate in ``x5c`` registers that very
    certificate; a JWK without one registers its public key, in any certificate."""
    chain = key.get("x5c")
    if isinstance(chain, list) and chain:
        try:
            registered = base64.b64decode(chain[0], validate=True)
        except (binascii.Error, TypeError, ValueError):
            return False
        return hmac.compare_digest(registered, certificate.der)
    return hmac.compare_digest(_spki(key.public_key), _spki(certificate.x509.public_key()))


class _MtlsMethod:
    name = ""

    async def authenticate(
        self, client: Client, presented: Presented, services: ClientAuthDeps
    ) -> None:
        certificate = presented.certificate
        if certificate is None:
            if services.settings.client_security.client_certificate_header is None:
                raise invalid_client(NOT_CONFIGURED)
            # RFC 8705 §2: the connection must be mutual TLS, with the client's certificate.
            raise invalid_client(f"{self.name}: the request came without a client certificate")
        try:
            await self._check(client, certificate, services)
        except CertificateError as exc:
            raise invalid_client("client authentication failed", detail=str(exc)) from None

    async def _check(
        self, client: Client, certificate: ClientCertificate, services: ClientAuthDeps
    ) -> None:
        raise NotImplementedError


class TlsClientAuth(_MtlsMethod):
    """RFC 8705 §2.1: a certificate from the operator's PKI, named by its subject. The proxy
    verified its chain against the CA the operator trusts; here only the name is checked."""

    name = "tls_client_auth"

    async def _check(
        self, client: Client, certificate: ClientCertificate, services: ClientAuthDeps
    ) -> None:
        expected = client.tls_client_auth_subject_dn
        if expected is None:
            raise invalid_client(
                "client authentication failed", detail="no tls_client_auth_subject_dn registered"
            )
        try:
            wanted = normal_dn(expected)
        except ValueError:
            raise invalid_client(
                "client authentication failed", detail="the registered subject DN is unreadable"
            ) from None
        subject = certificate.x509.subject.rfc4514_string()
        # RFC 8705 §2.1.2: the certificate's subject is the registered tls_client_auth_subject_dn.
        if not hmac.compare_digest(subject.encode(), wanted.encode()):
            raise invalid_client(
                "client authentication failed", detail=f"certificate subject {subject[:200]!r}"
            )


class SelfSignedTlsClientAuth(_MtlsMethod):
    """RFC 8705 §2.2: a certificate the client registered itself, in ``jwks`` or at its
    ``jwks_uri``; no chain to check."""

    name = "self_signed_tls_client_auth"

    async def _check(
        self, client: Client, certificate: ClientCertificate, services: ClientAuthDeps
    ) -> None:
        try:
            keys = await services.client_keys.public_keys(client, None)
        except ClientKeyError as exc:
            raise invalid_client("client authentication failed", detail=str(exc)) from None
        # RFC 8705 §2.2: the certificate presented must be one registered for the client.
        if not any(_is_registered(key, certificate) for key in keys):
            raise invalid_client(
                "client authentication failed",
                detail="the certificate is not among the client's registered keys",
            )
