"""The client certificate a TLS proxy passes on (RFC 8705 behind a proxy): its thumbprint
(§3.1), the header's forms, trust in the proxy's address only, the subject DN as
compared (§2.1), and what the settings and the metadata say (§3.3)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes

from ostiary.gateway.config import ConfigError, load_config
from ostiary.oauth.client_auth.mtls import MTLS_METHODS, normal_dn
from ostiary.oauth.metadata import authorization_server_metadata
from ostiary.resource.client_cert import (
    PEER,
    CertificateError,
    CertificateHeader,
    parse_certificate,
    x5t_s256,
)
from ostiary.settings import SettingsError, load_settings
from tests.e2e.certificates import authority, self_signed

CERT = self_signed("orders-batch")
OTHER = self_signed("orders-batch")
PROXY = "10.0.0.2"


def test_rfc8705_3_1_the_thumbprint_is_base64url_sha256_of_the_der() -> None:
    """RFC 8705 §3.1: x5t#S256 is the base64url-encoded SHA-256 of the DER certificate."""
    expected = base64.urlsafe_b64encode(CERT.certificate.fingerprint(hashes.SHA256()))
    assert x5t_s256(CERT.der) == expected.rstrip(b"=").decode()
    assert len(x5t_s256(CERT.der)) == 43 and "=" not in x5t_s256(CERT.der)
    certificate = parse_certificate(CERT.header())
    assert certificate.thumbprint == x5t_s256(CERT.der)
    assert certificate.matches(x5t_s256(CERT.der))
    assert not certificate.matches(x5t_s256(OTHER.der))


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(CERT.header(), id="nginx escaped PEM"),
        pytest.param(CERT.pem, id="PEM"),
        pytest.param(CERT.pem.replace("\n", " "), id="PEM with spaces for newlines"),
        pytest.param(quote(CERT.pem + authority().pem, safe=""), id="escaped chain"),
        pytest.param(f":{_b64(CERT.der)}:", id="RFC 9440 byte sequence"),
        pytest.param(_b64(CERT.der), id="base64 DER"),
    ],
)
def test_the_header_forms_proxies_send(value: str) -> None:
    """nginx's $ssl_client_escaped_cert, plain PEM, RFC 9440 §2 and base64 DER: the
    first certificate is the client's."""
    assert parse_certificate(value).der == CERT.der


@pytest.mark.parametrize(
    "value",
    [
        "-----BEGIN CERTIFICATE-----no end",
        "%FF%FE",
        "not base64!",
        _b64(b"\x04" * 40),
        "A" * 20_000,
    ],
)
def test_a_header_without_a_certificate_is_refused(value: str) -> None:
    with pytest.raises(CertificateError):
        parse_certificate(value)


def _scope(peer: str, *headers: tuple[bytes, bytes], client: str | None = None) -> dict[str, Any]:
    scope: dict[str, Any] = {"headers": list(headers), "client": (client or peer, 50000)}
    if client is not None:
        scope[PEER] = (peer, 50000)
    return scope


HEADER = CertificateHeader("X-Client-Cert", [PROXY, "192.0.2.0/24"])
VALUE = (b"x-client-cert", CERT.header().encode())


def test_the_certificate_of_a_trusted_proxy_is_read() -> None:
    read = HEADER.from_scope(_scope(PROXY, VALUE))
    assert read is not None and read.der == CERT.der
    assert HEADER.from_scope(_scope("192.0.2.77", VALUE)) is not None


@pytest.mark.parametrize("peer", ["203.0.113.9", "10.0.0.3", "::1", "unix-socket"])
def test_rfc8705_the_header_from_an_untrusted_address_is_ignored(peer: str) -> None:
    """Only the proxy that checked the TLS handshake may name the certificate: from any
    other address the header is as good as absent, even a malformed one."""
    assert HEADER.from_scope(_scope(peer, VALUE)) is None
    assert HEADER.from_scope(_scope(peer, (b"x-client-cert", b"garbage"))) is None


def test_the_socket_peer_counts_not_the_forwarded_address() -> None:
    """uvicorn rewrites ``client`` from X-Forwarded-For: the peer the protocol kept decides."""
    assert HEADER.from_scope(_scope(PROXY, VALUE, client="203.0.113.9")) is not None
    assert HEADER.from_scope(_scope("203.0.113.9", VALUE, client=PROXY)) is None


def test_no_empty_or_repeated_header() -> None:
    assert HEADER.from_scope(_scope(PROXY)) is None
    # nginx sends the header empty when the client presented no certificate.
    assert HEADER.from_scope(_scope(PROXY, (b"x-client-cert", b""))) is None
    with pytest.raises(CertificateError, match="more than one"):
        HEADER.from_scope(_scope(PROXY, VALUE, VALUE))


def test_wsgi_the_peer_is_remote_addr() -> None:
    environ = {"REMOTE_ADDR": PROXY, "HTTP_X_CLIENT_CERT": CERT.header()}
    read = HEADER.from_environ(environ)
    assert read is not None and read.der == CERT.der
    assert HEADER.from_environ({**environ, "REMOTE_ADDR": "203.0.113.9"}) is None


@pytest.mark.parametrize(
    ("name_", "proxies"), [("X Client Cert", [PROXY]), ("X-Client-Cert", []), ("X-C", "")]
)
def test_a_header_needs_a_name_and_the_proxies_it_is_believed_from(
    name_: str, proxies: Any
) -> None:
    with pytest.raises(ValueError):
        CertificateHeader(name_, proxies)


@pytest.mark.parametrize(
    ("registered", "common_name"),
    [
        ("CN=app,O=Example Corp,C=DE", "app"),
        ("2.5.4.3=app,O=Example Corp,C=DE", "app"),
        ("CN=a\\,b,O=Example Corp,C=DE", "a,b"),
    ],
)
def test_rfc8705_2_1_2_subject_dns_compare_in_one_spelling(
    registered: str, common_name: str
) -> None:
    """RFC 8705 §2.1.2: tls_client_auth_subject_dn is an RFC 4514 string; both sides are
    compared as cryptography writes them."""
    subject = self_signed(common_name).certificate.subject.rfc4514_string()
    assert normal_dn(registered) == subject


@pytest.mark.parametrize("text", ["cn=app", "CN=app, O=x", "app", "CN=app,foo=bar"])
def test_rfc8705_2_1_2_an_unreadable_dn_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        normal_dn(text)


def _settings(**values: Any) -> Any:
    return load_settings(issuer="https://id.example.test", **values)


def test_the_certificate_header_needs_trusted_proxies() -> None:
    with pytest.raises(SettingsError, match="OSTIARY_TRUSTED_PROXIES"):
        _settings(client_security={"client_certificate_header": "X-Client-Cert"})
    with pytest.raises(SettingsError, match="header name"):
        _settings(client_security={"client_certificate_header": "X Client"}, trusted_proxies=PROXY)


def test_rfc8705_3_3_metadata_only_when_mutual_tls_is_configured() -> None:
    """RFC 8705 §3.3: tls_client_certificate_bound_access_tokens; the mTLS methods listed
    only by a server that can read certificates; no mtls_endpoint_aliases (§5)."""
    plain = authorization_server_metadata(_settings())
    assert "tls_client_certificate_bound_access_tokens" not in plain
    assert not set(MTLS_METHODS) & set(plain["token_endpoint_auth_methods_supported"])
    mtls = authorization_server_metadata(
        _settings(
            client_security={"client_certificate_header": "X-Client-Cert"}, trusted_proxies=PROXY
        )
    )
    assert mtls["tls_client_certificate_bound_access_tokens"] is True
    for field in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        assert set(MTLS_METHODS) <= set(mtls[f"{field}_auth_methods_supported"])
    assert "mtls_endpoint_aliases" not in mtls


def _gateway(**values: Any) -> Any:
    base = {"issuer": "https://id.example.test", "upstream": "http://127.0.0.1:9000"}
    return load_config({**base, "rules": ["GET /* scope=read"], **values})


def test_the_gateway_takes_the_header_with_its_proxies() -> None:
    config = _gateway(client_certificate_header="X-Client-Cert", client_certificate_proxies=[PROXY])
    header = config.certificate_header
    assert header is not None and header.name == b"x-client-cert"
    with pytest.raises(ConfigError, match="proxies"):
        _gateway(client_certificate_header="X-Client-Cert")
    with pytest.raises(ConfigError, match="without client_certificate_header"):
        _gateway(client_certificate_proxies=[PROXY])


def test_the_peer_key_is_the_one_the_http_protocol_writes() -> None:
    """The kit cannot import the server's observability package: the same key, twice."""
    from ostiary.observability.request_id import PEER as PROTOCOL_PEER

    assert PEER == PROTOCOL_PEER
