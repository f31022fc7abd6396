"""Mutual TLS (RFC 8705) over a real server, the tests playing the TLS proxy: a CA and
client certificates made here, passed in ``X-Client-Cert`` as nginx's
``$ssl_client_escaped_cert`` from 127.0.0.1, the trusted proxy's address. Then the tokens
at the resource kit and the gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ostiary.gateway import Gateway, load_config
from ostiary.resource import CertificateHeader, TokenVerifier
from ostiary.resource.asgi import BearerAuthMiddleware
from ostiary.resource.client_cert import x5t_s256
from tests.conftest import LiveServer, own_server
from tests.e2e.certificates import HEADER, Certified, authority, issued, name, self_signed
from tests.e2e.helpers import (
    RegisteredClient,
    authorize_params,
    browser,
    login_and_consent,
    make_client,
    make_user,
    pkce_pair,
    query_of,
)
from tests.e2e.upstream_app import serving, upstream_app

CA = authority()
SUBJECT = "CN=orders-batch,O=Example Corp,C=DE"
GOOD = issued(CA, name("orders-batch"))
WRONG = issued(CA, name("intruder"))
MTLS = {"client_security": {"client_certificate_header": HEADER}}


@pytest.fixture(scope="module")
def mtls(database_url: str) -> Iterator[LiveServer]:
    """A server behind a TLS proxy on 127.0.0.1 (the tests)."""
    with own_server(database_url, trusted_proxies="127.0.0.1", **MTLS) as live:
        yield live


@pytest.fixture(scope="module")
def elsewhere(database_url: str) -> Iterator[LiveServer]:
    """A server whose proxy is at another address: the tests' headers come from no proxy."""
    with own_server(database_url, trusted_proxies="10.0.0.0/8", **MTLS) as live:
        yield live


def pki_client(server: LiveServer, dn: str = SUBJECT, **spec: Any) -> RegisteredClient:
    values: dict[str, Any] = {
        "redirect_uris": [],
        "grant_types": ["client_credentials"],
        "scopes": ["read"],
        "auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": dn,
    }
    return make_client(server, **(values | spec))


def cc_token(
    server: LiveServer, client: RegisteredClient, certificate: Certified | None
) -> httpx.Response:
    """RFC 8705 §2: client_id in the body, the certificate from the proxy."""
    return httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "client_credentials", "client_id": client.client_id, "scope": "read"},
        headers=certificate.headers() if certificate is not None else {},
    )


def test_rfc8705_3_3_the_metadata_says_so(mtls: LiveServer) -> None:
    metadata = httpx.get(f"{mtls.base_url}/.well-known/oauth-authorization-server").json()
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(
        metadata["token_endpoint_auth_methods_supported"]
    )


def test_rfc8705_2_1_tls_client_auth_gets_a_certificate_bound_token(mtls: LiveServer) -> None:
    client = pki_client(mtls)
    response = cc_token(mtls, client, GOOD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    # RFC 8705 §3.2: introspection (by the client, over mutual TLS) shows the binding.
    introspected = httpx.post(
        f"{mtls.base_url}/introspect",
        data={"client_id": client.client_id, "token": body["access_token"]},
        headers=GOOD.headers(),
    ).json()
    assert introspected["active"] is True and introspected["token_type"] == "Bearer"
    assert introspected["cnf"] == {"x5t#S256": x5t_s256(GOOD.der)}


@pytest.mark.parametrize(
    ("certificate", "message"),
    [
        pytest.param(WRONG, "client authentication failed", id="wrong subject DN"),
        pytest.param(None, "without a client certificate", id="no certificate"),
    ],
)
def test_rfc8705_2_1_refused_without_the_registered_subject(
    mtls: LiveServer, certificate: Certified | None, message: str
) -> None:
    response = cc_token(mtls, pki_client(mtls), certificate)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert message in response.json()["error_description"]


def test_rfc8705_the_header_from_an_untrusted_address_is_ignored(elsewhere: LiveServer) -> None:
    """Only the TLS proxy may name the certificate: from 127.0.0.1, not one of this
    server's proxies, the header counts for nothing."""
    response = cc_token(elsewhere, pki_client(elsewhere), GOOD)
    assert response.status_code == 401
    assert "without a client certificate" in response.json()["error_description"]


def test_without_the_setting_there_is_no_mutual_tls(server: LiveServer) -> None:
    response = cc_token(server, pki_client(server), GOOD)
    assert response.status_code == 401
    assert response.json()["error_description"] == "mutual TLS is not configured on this server"
    metadata = httpx.get(f"{server.base_url}/.well-known/openid-configuration").json()
    assert "tls_client_auth" not in metadata["token_endpoint_auth_methods_supported"]


@pytest.mark.parametrize(("other", "status"), [(False, 200), (True, 401)])
def test_rfc8705_2_2_self_signed_tls_client_auth(
    mtls: LiveServer, other: bool, status: int
) -> None:
    own = self_signed("orders-batch")
    client = make_client(
        mtls,
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=["read"],
        auth_method="self_signed_tls_client_auth",
        jwks=own.jwks(),
    )
    response = cc_token(mtls, client, self_signed("orders-batch") if other else own)
    assert response.status_code == status, response.text


def _kit_statuses(server: LiveServer, token: str) -> list[int]:
    """The resource kit's ASGI adapter behind its own TLS proxy (10.0.0.2): with the
    certificate the token is bound to, without one, with another."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def check() -> list[int]:
        verifier = TokenVerifier(server.base_url, audience=server.base_url)
        protected = BearerAuthMiddleware(
            app, verifier, client_certificate=CertificateHeader(HEADER, ["10.0.0.2"])
        )
        transport = httpx.ASGITransport(app=protected, client=("10.0.0.2", 443))
        statuses = []
        async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as http:
            for certificate in (GOOD, None, WRONG):
                headers = {"Authorization": f"Bearer {token}"}
                headers |= certificate.headers() if certificate is not None else {}
                statuses.append((await http.get("/orders", headers=headers)).status_code)
        await verifier.aclose()
        return statuses

    return asyncio.run(check())


def test_rfc8705_3_the_kit_takes_a_bound_token_only_with_its_certificate(
    mtls: LiveServer,
) -> None:
    token = cc_token(mtls, pki_client(mtls), GOOD).json()["access_token"]
    assert _kit_statuses(mtls, token) == [204, 401, 401]


def test_rfc8705_3_the_gateway_takes_a_bound_token_only_with_its_certificate(
    mtls: LiveServer,
) -> None:
    token = cc_token(mtls, pki_client(mtls), GOOD).json()["access_token"]
    config = {
        "issuer": mtls.base_url,
        "rules": ["GET /api/* scope=read"],
        "revocation_feed": False,
        "client_certificate_header": HEADER,
        "client_certificate_proxies": ["127.0.0.1"],
    }
    with serving(upstream_app()) as upstream:
        gateway = Gateway(load_config({**config, "upstream": upstream}))
        with serving(gateway) as url:
            bearer = {"Authorization": f"Bearer {token}"}
            good = httpx.get(f"{url}/api/orders", headers=bearer | GOOD.headers())
            assert good.status_code == 200, good.text
            # The certificate header stays at the gateway: the upstream cannot tell who wrote it.
            assert HEADER.lower() not in {n for n, _ in good.json()["headers"]}
            assert httpx.get(f"{url}/api/orders", headers=bearer).status_code == 401
            other = httpx.get(f"{url}/api/orders", headers=bearer | WRONG.headers())
            assert other.status_code == 401


REDIRECT = "https://bank-app.example.com/cb"


def test_fapi2_with_mutual_tls_instead_of_dpop(mtls: LiveServer) -> None:
    """FAPI 2.0 §5.3.2.1: tls_client_auth at /par and /token, no DPoP: the tokens are
    sender-constrained by the certificate."""
    client = make_client(
        mtls,
        redirect_uris=[REDIRECT],
        scopes=["openid", "accounts"],
        auth_method="tls_client_auth",
        tls_client_auth_subject_dn=SUBJECT,
        profile="fapi2",
    )
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope="openid accounts", nonce="n-1")
    pushed = httpx.post(f"{mtls.base_url}/par", data=params, headers=GOOD.headers())
    assert pushed.status_code == 201, pushed.text
    with browser(mtls) as web:
        response = login_and_consent(
            web,
            {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]},
            make_user(mtls),
        )
    code = query_of(response.headers["location"])["code"]
    token = httpx.post(
        f"{mtls.base_url}/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client.client_id,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=GOOD.headers(),
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"
    assert _kit_statuses(mtls, token.json()["access_token"]) == [204, 401, 401]
