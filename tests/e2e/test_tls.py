"""``ostiary serve --ssl-certfile/--ssl-keyfile``: https from uvicorn itself, with a
certificate made here, and HSTS (RFC 6797) on every response when the issuer is https.

The certificate comes from a throwaway CA of the test's, which the client trusts and
nothing else does, so the client verifies the server as it would a real one.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.conftest import SECRET_KEY, free_port
from tests.e2e.processes import ServerProcess, Servers, clean_env
from tests.e2e.test_serve import ostiary

ONE_YEAR = "max-age=31536000"
START_TIMEOUT = 60.0
NO_KEY_USAGE = dict.fromkeys(
    [
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
    ],
    False,
)  # fmt: skip


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path
    other_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def make_certificates(directory: Path) -> Certificates:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Ostiary test CA"))
        .issuer_name(_name("Ostiary test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(**{**NO_KEY_USAGE, "key_cert_sign": True, "crl_sign": True}),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Certificates(
        ca=directory / "ca.pem",
        cert=directory / "cert.pem",
        key=_pem_key(key, directory / "key.pem"),
        other_key=_pem_key(ec.generate_private_key(ec.SECP256R1()), directory / "other.pem"),
    )


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def trusting(certificates: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates.ca))


def wait_answering(server: ServerProcess, client: httpx.Client, path: str) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"ostiary serve exited; stderr:\n{server.stderr}")
        try:
            return client.get(path)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{path} did not answer; stderr:\n{server.stderr}")


def env_for(tmp_path: Path, issuer: str, **settings: str) -> dict[str, str]:
    return clean_env(
        OSTIARY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}",
        OSTIARY_ISSUER=issuer,
        OSTIARY_SECRET_KEY=SECRET_KEY,
        **settings,
    )


def test_serve_over_tls_with_modern_suites_and_hsts_on_every_response(
    servers: Servers, tmp_path: Path, certificates: Certificates
) -> None:
    port = free_port()
    issuer = f"https://127.0.0.1:{port}"
    # All interfaces: an https issuer is never refused, whatever the address.
    server = servers.start(
        "--host", "0.0.0.0",
        "--ssl-certfile", str(certificates.cert),
        "--ssl-keyfile", str(certificates.key),
        port=port, env=env_for(tmp_path, issuer), cwd=tmp_path, wait=False,
    )  # fmt: skip
    with httpx.Client(base_url=issuer, verify=trusting(certificates), timeout=10) as https:
        discovery = wait_answering(server, https, "/.well-known/openid-configuration")
        assert discovery.status_code == 200, discovery.text
        assert discovery.json()["issuer"] == issuer
        assert discovery.json()["token_endpoint"] == f"{issuer}/token"
        answers = {
            "discovery": discovery,
            # The token endpoint's own ASGI path (web/token_routes.py), an OAuth error.
            "token": https.post("/token", data={"grant_type": "client_credentials"}),
            "jwks": https.get("/jwks.json"),
            "page": https.get("/account/login"),
            "redirect": https.get("/health/"),
            "not found": https.get("/no/such/path"),
        }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "discovery": 200, "token": 401, "jwks": 200, "page": 200, "redirect": 307,
        "not found": 404,
    }  # fmt: skip
    for name, answer in answers.items():
        assert answer.headers.get_list("strict-transport-security") == [ONE_YEAR], name
    assert f"listening on https://0.0.0.0:{port}" in server.stderr
    # RFC 9325 §4.2: TLS 1.2 with AEAD suites and forward secrecy; its CBC suites refused.
    tls12 = trusting(certificates)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=tls12, timeout=10) as https:
        assert https.get(f"{issuer}/jwks.json").is_success
    tls12.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")
    with httpx.Client(verify=tls12, timeout=10) as https, pytest.raises(httpx.ConnectError):
        https.get(f"{issuer}/jwks.json")


def test_an_http_issuer_gets_no_hsts(servers: Servers, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(tmp_path, f"http://127.0.0.1:{port}")
    server = servers.start(port=port, env=env, cwd=tmp_path)
    for path in ("/.well-known/openid-configuration", "/account/login"):
        answer = httpx.get(server.base_url + path, timeout=10)
        assert answer.status_code == 200
        assert "strict-transport-security" not in answer.headers


@pytest.mark.parametrize(
    ("arguments", "issuer", "message"),
    [
        (["--ssl-keyfile", "{key}"], "https", "--ssl-keyfile needs --ssl-certfile"),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}"],
            "http",
            "--ssl-certfile serves https, but the issuer is http://",
        ),
        (
            ["--ssl-certfile", "{dir}/missing.pem", "--ssl-keyfile", "{key}"],
            "https",
            "cannot use the TLS certificate {dir}/missing.pem and {key}: No such file",
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{other_key}"],
            "https",
            "cannot use the TLS certificate {cert} and {other_key}: KEY_VALUES_MISMATCH",
        ),
        (
            ["--ssl-certfile", "{cert}"],
            "https",
            "cannot use the TLS certificate {cert}: not a PEM certificate chain and its private",
        ),
    ],
)
def test_tls_mistakes_are_one_line_before_anything_is_written(
    tmp_path: Path, certificates: Certificates, arguments: list[str], issuer: str, message: str
) -> None:
    names = {
        "dir": str(tmp_path),
        "cert": str(certificates.cert),
        "key": str(certificates.key),
        "other_key": str(certificates.other_key),
    }
    port = free_port()
    work = tmp_path / "work"
    work.mkdir()
    env = env_for(work, f"{issuer}://127.0.0.1:{port}")
    args = [a.format(**names) for a in arguments]
    done = ostiary(env, work, "serve", "--port", str(port), *args)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message.format(**names) in done.stderr
    assert list(work.iterdir()) == []  # no database created
