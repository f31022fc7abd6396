"""Certificate-bound tokens in the resource kit (RFC 8705 §3): taken only with the
certificate they are bound to, which the app's TLS proxy passes in a header believed from
its address alone; through ``authenticate`` and the ASGI and WSGI adapters."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from ostiary.resource import (
    CertificateHeader,
    ClientCertificate,
    SyncTokenVerifier,
    TokenVerifier,
)
from ostiary.resource.asgi import BearerAuthMiddleware
from ostiary.resource.authenticate import authenticate
from ostiary.resource.claims import Claims
from ostiary.resource.client_cert import CertificateError, x5t_s256
from ostiary.resource.dpop import DPoPVerifier
from ostiary.resource.errors import InvalidRequest, InvalidToken, ResourceError
from ostiary.resource.wsgi import CLAIMS_KEY, protect
from tests.e2e.certificates import HEADER, self_signed
from tests.e2e.dpop_client import DPoPClient

CERT = self_signed("orders-batch")
OTHER = self_signed("orders-batch")
URL = "https://api.example.com/orders"
PROXY = "10.0.0.2"
DPOP = DPoPClient()
TOKENS: dict[str, dict[str, Any]] = {
    "bound": {"sub": "u", "cnf": {"x5t#S256": x5t_s256(CERT.der)}},
    "plain": {"sub": "u"},
    "both": {"sub": "u", "cnf": {"x5t#S256": x5t_s256(CERT.der), "jkt": DPOP.jkt}},
}


async def verify(token: str) -> Claims:
    if token not in TOKENS:
        raise InvalidToken("unknown token")
    return Claims.of(TOKENS[token], "jwt")


def run(authorization: str, certificate: Any, proofs: tuple[str, ...] = ()) -> Claims:
    return asyncio.run(
        authenticate(verify, DPoPVerifier(), authorization, proofs, "GET", URL, certificate)
    )


def refusal(*args: Any) -> ResourceError:
    with pytest.raises(ResourceError) as caught:
        run(*args)
    return caught.value


def test_rfc8705_3_a_bound_token_with_its_certificate_is_accepted() -> None:
    claims = run("Bearer bound", ClientCertificate(CERT.der))
    assert claims.x5t_s256 == x5t_s256(CERT.der) and claims.scheme == "bearer"
    # Read only when the token turns out to be bound: a function is called then.
    assert run("Bearer bound", lambda: ClientCertificate(CERT.der)).sub == "u"


@pytest.mark.parametrize(
    ("certificate", "message"),
    [
        pytest.param(None, "certificate-bound", id="no certificate"),
        pytest.param(ClientCertificate(OTHER.der), "not the one", id="another certificate"),
    ],
)
def test_rfc8705_3_a_bound_token_without_its_certificate_is_invalid_token(
    certificate: ClientCertificate | None, message: str
) -> None:
    """RFC 8705 §3: refused with invalid_token (401) in a Bearer challenge."""
    error = refusal("Bearer bound", certificate)
    assert isinstance(error, InvalidToken) and error.status == 401 and message in str(error)
    assert error.challenge("api").startswith('Bearer realm="api", error="invalid_token"')


def test_a_plain_token_reads_no_certificate() -> None:
    def unread() -> ClientCertificate:
        raise AssertionError("read for a token that is not bound")

    assert run("Bearer plain", unread).sub == "u"


def test_a_header_holding_no_certificate_is_invalid_request() -> None:
    def broken() -> ClientCertificate:
        raise CertificateError("the client certificate is not base64")

    assert isinstance(refusal("Bearer bound", broken), InvalidRequest)


def test_a_token_bound_both_ways_needs_the_proof_and_the_certificate() -> None:
    """Ostiary never issues one; another issuer's is held to both bindings."""
    proofs = (DPOP.proof("GET", URL, "both"),)
    assert "certificate-bound" in str(refusal("DPoP both", None, proofs))
    proofs = (DPOP.proof("GET", URL, "both"),)
    assert run("DPoP both", ClientCertificate(CERT.der), proofs).dpop is not None


class _Verifier:
    dpop = None

    async def verify(self, token: str) -> Claims:
        return await verify(token)


async def _asgi_status(peer: str, headers: dict[str, str]) -> int:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    protected = BearerAuthMiddleware(
        app,
        _Verifier(),  # type: ignore[arg-type]
        client_certificate=CertificateHeader(HEADER, [PROXY]),
    )
    transport = httpx.ASGITransport(app=protected, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example.com") as http:
        return (await http.get("/orders", headers=headers)).status_code


@pytest.mark.parametrize(
    ("peer", "token", "presented", "status"),
    [
        (PROXY, "bound", CERT, 204),
        (PROXY, "bound", OTHER, 401),
        (PROXY, "bound", None, 401),
        # RFC 8705 behind a proxy: a header not from the proxy is as good as none.
        ("203.0.113.9", "bound", CERT, 401),
        ("203.0.113.9", "plain", None, 204),
    ],
)
def test_asgi_the_proxys_certificate_header(
    peer: str, token: str, presented: Any, status: int
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if presented is not None:
        headers.update(presented.headers())
    assert asyncio.run(_asgi_status(peer, headers)) == status


def test_wsgi_the_proxys_certificate_header() -> None:
    verifier = TokenVerifier("https://id.example.com", "https://api.example.com")
    verifier.verify = verify  # type: ignore[method-assign]
    blocking = SyncTokenVerifier(verifier)
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [environ[CLAIMS_KEY].sub.encode()]

    wrapped = protect(blocking, client_certificate=CertificateHeader(HEADER, PROXY))(app)

    def status(remote: str, certificate: Any) -> str:
        environ = {"REMOTE_ADDR": remote, "HTTP_AUTHORIZATION": "Bearer bound"}
        if certificate is not None:
            environ["HTTP_X_CLIENT_CERT"] = certificate.header()
        list(wrapped(environ, lambda s, h, *a: seen.append(s)))
        return seen[-1]

    try:
        assert status(PROXY, CERT) == "200 OK"
        assert status(PROXY, OTHER).startswith("401")
        assert status("203.0.113.9", CERT).startswith("401")
    finally:
        blocking.close()
