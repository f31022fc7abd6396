"""Ostiary over real TLS, for certified relying-party libraries that insist on https.

OIDC Discovery 1.0 §3 says the issuer is a URL using the https scheme, and pyoidc's
``ProviderConfigurationResponse.verify`` enforces that. Rather than excuse the library,
these fixtures serve Ostiary over TLS on loopback: a throw-away CA and a server
certificate for 127.0.0.1 are made with ``cryptography`` per run, uvicorn serves the
real app with them, and every client trusts exactly that CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import LiveServer, free_port, server_settings, start_server

__all__ = [
    "LogoutReceiver",
    "TLSFiles",
    "logout_receiver",
    "tls_browser",
    "tls_files",
    "tls_server",
]


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_tls_files(folder: Path) -> TLSFiles:
    """A CA and a 127.0.0.1 server certificate that pass OpenSSL's strict X.509 checks."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Ostiary test CA"))
        .issuer_name(_name("Ostiary test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return TLSFiles(
        ca=_write_pem(folder / "ca.pem", ca_cert.public_bytes(pem)),
        cert=_write_pem(folder / "server.pem", cert.public_bytes(pem)),
        key=_write_pem(
            folder / "server.key",
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ),
    )


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_server(database_url: str, tls_files: TLSFiles) -> Iterator[LiveServer]:
    """Ostiary under uvicorn with TLS; the issuer is ``https://127.0.0.1:<port>``."""
    port = free_port()
    settings = server_settings(database_url, port, issuer=f"https://127.0.0.1:{port}")
    live, stop = start_server(
        settings,
        port,
        ssl_certfile=str(tls_files.cert),
        ssl_keyfile=str(tls_files.key),
        # A client library that leaves a keep-alive connection open must not hang teardown.
        timeout_graceful_shutdown=5,
    )
    yield live
    stop()


def tls_browser(server: LiveServer, tls: TLSFiles) -> httpx.Client:
    """A person's browser at the provider: trusts the test CA, keeps cookies."""
    return httpx.Client(
        base_url=server.base_url, follow_redirects=False, timeout=30, verify=tls.context()
    )


@dataclass
class LogoutReceiver:
    """A relying party's back-channel logout endpoint (Back-Channel Logout 1.0 §2.5)."""

    base_url: str
    tokens: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uri(self) -> str:
        return f"{self.base_url}/backchannel"

    def received(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    async def endpoint(self, request: Request) -> Response:
        # §2.5: an application/x-www-form-urlencoded POST with exactly one logout_token.
        form = parse_qs((await request.body()).decode())
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            return Response(status_code=415)
        if len(form.get("logout_token", [])) != 1:
            return Response(status_code=400)
        (token,) = form["logout_token"]
        with self.lock:
            self.tokens.append(token)
        # §2.8: 200 OK when the logout succeeded; no-store like any response carrying state.
        return Response(status_code=200, headers={"Cache-Control": "no-store"})


@pytest.fixture(scope="module")
def logout_receiver() -> Iterator[LogoutReceiver]:
    port = free_port()
    receiver = LogoutReceiver(f"http://127.0.0.1:{port}")
    app = Starlette(routes=[Route("/backchannel", receiver.endpoint, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name=f"rp-logout-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("back-channel receiver did not start")
        time.sleep(0.02)
    yield receiver
    server.should_exit = True
    thread.join(timeout=30)
