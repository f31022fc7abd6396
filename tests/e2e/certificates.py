"""Certificates for the mutual-TLS tests (RFC 8705), made with ``cryptography``: a CA and
the client certificates it issues (tls_client_auth), self-signed ones
(self_signed_tls_client_auth), and the header a TLS proxy passes them on in."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc.jwk import ECKey

HEADER = "X-Client-Cert"


@dataclass(frozen=True)
class Certified:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(Encoding.PEM).decode()

    def header(self) -> str:
        """As nginx's ``$ssl_client_escaped_cert``: the PEM, URL-encoded."""
        return quote(self.pem, safe="")

    def headers(self) -> dict[str, str]:
        return {HEADER: self.header()}

    def jwk(self, *, x5c: bool = True) -> dict[str, Any]:
        """The public JWK of the certificate's key, with the certificate in ``x5c``
        (RFC 8705 §2.2.2) unless told otherwise."""
        jwk = ECKey.import_key(self.key.public_key()).as_dict(private=False)
        if x5c:
            jwk["x5c"] = [base64.b64encode(self.der).decode()]
        return jwk

    def jwks(self, *, x5c: bool = True) -> dict[str, Any]:
        return {"keys": [self.jwk(x5c=x5c)]}


def name(common_name: str, organisation: str = "Example Corp", country: str = "DE") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(x509.NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey, *, ca: bool,
) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


def self_signed(common_name: str) -> Certified:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name)
    return Certified(key, _certificate(subject, key, subject, key, ca=False))


def authority(common_name: str = "Example Client CA") -> Certified:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name)
    return Certified(key, _certificate(subject, key, subject, key, ca=True))


def issued(ca: Certified, subject: x509.Name) -> Certified:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate(subject, key, ca.certificate.subject, ca.key, ca=False)
    return Certified(key, certificate)


def renewed(own: Certified) -> Certified:
    """Another self-signed certificate for the same key and subject (a renewal)."""
    subject = own.certificate.subject
    return Certified(own.key, _certificate(subject, own.key, subject, own.key, ca=False))
