"""Mutual TLS at the token endpoint (RFC 8705) on the in-memory store: the two client
authentication methods (§2.1, §2.2) with the certificate a TLS proxy passed on, tokens
bound to it (§3.1, §4), introspection (§3.2), and the one-binding rule beside DPoP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from ostiary.errors import OAuthError
from ostiary.oauth import introspection, token_endpoint
from ostiary.oauth.grants.base import TokenRequest
from ostiary.resource.client_cert import ClientCertificate, x5t_s256
from ostiary.services import Services
from ostiary.tokens.service import Grant
from tests.e2e.certificates import Certified, authority, issued, name, renewed, self_signed
from tests.e2e.dpop_client import DPoPClient
from tests.unit.grants.world import (
    CLIENT_IP,
    ISSUER,
    App,
    authorize_code,
    basic,
    exchange_params,
    register_app,
    sign_in,
    verified,
)

pytestmark = pytest.mark.anyio

CA = authority()
SUBJECT = "CN=orders-batch,O=Example Corp,C=DE"
GOOD = issued(CA, name("orders-batch"))
WRONG = issued(CA, name("intruder"))
SERVICE: dict[str, Any] = {
    "grant_types": ("client_credentials",),
    "scopes": ("read",),
    "redirect_uris": (),
}


def cert(certified: Certified) -> ClientCertificate:
    return ClientCertificate(certified.der)


async def post(
    services: Services,
    params: dict[str, str],
    certificate: Certified | None,
    *,
    authorization: str | None = None,
    proofs: tuple[str, ...] = (),
) -> dict[str, Any]:
    body = urlencode(params).encode()
    presented = cert(certificate) if certificate is not None else None
    return await token_endpoint.token(
        services, body, authorization, CLIENT_IP, proofs, certificate=presented
    )


async def refused(services: Services, *args: Any, **kwargs: Any) -> OAuthError:
    with pytest.raises(OAuthError) as caught:
        await post(services, *args, **kwargs)
    return caught.value


def cc(app: App) -> dict[str, str]:
    """RFC 8705 §2: the client_id alone identifies an mTLS client."""
    return {"grant_type": "client_credentials", "client_id": app.client_id, "scope": "read"}


async def pki_client(services: Services, dn: str = SUBJECT, **spec: Any) -> App:
    return await register_app(
        services, auth_method="tls_client_auth", tls_client_auth_subject_dn=dn, **SERVICE, **spec
    )


async def test_rfc8705_2_1_tls_client_auth_with_the_registered_subject(
    services: Services,
) -> None:
    app = await pki_client(services)
    answer = await post(services, cc(app), GOOD)
    # RFC 8705 §3: a certificate-bound token is still a Bearer token on the wire.
    assert answer["token_type"] == "Bearer"
    claims = await verified(services, answer["access_token"], "at+jwt")
    # RFC 8705 §3.1: cnf holds the SHA-256 thumbprint of the DER certificate.
    assert claims["cnf"] == {"x5t#S256": x5t_s256(GOOD.der)}


@pytest.mark.parametrize(
    ("presented", "dn", "message"),
    [
        pytest.param(WRONG, SUBJECT, "client authentication failed", id="another subject"),
        pytest.param(
            GOOD, "C=DE,O=Example Corp,CN=orders-batch", "client authentication failed",
            id="the RDNs in another order",
        ),
        pytest.param(
            self_signed("orders-batch"), "CN=orders-batch,O=Example Corp,C=DE", None,
            id="same subject, any issuer: the proxy checks the chain",
        ),
        pytest.param(None, SUBJECT, "mutual TLS is not configured on this server", id="no cert"),
    ],
)  # fmt: skip
async def test_rfc8705_2_1_the_subject_dn_must_match(
    services: Services, presented: Certified | None, dn: str, message: str | None
) -> None:
    app = await pki_client(services, dn)
    if message is None:
        assert (await post(services, cc(app), presented))["token_type"] == "Bearer"
        return
    error = await refused(services, cc(app), presented)
    assert (error.error, error.status, error.description) == ("invalid_client", 401, message)


async def test_rfc8705_2_no_other_credentials_beside_the_certificate(services: Services) -> None:
    app = await pki_client(services)
    assert app.secret is not None
    error = await refused(services, cc(app), GOOD, authorization=basic(app))
    assert error.error == "invalid_client" and "tls_client_auth" in error.description


@pytest.mark.parametrize(
    ("registered", "presented", "ok"),
    [
        pytest.param("x5c", "same", True, id="the certificate in x5c"),
        pytest.param("key", "same", True, id="its public key"),
        pytest.param("key", "same key, new certificate", True, id="the key in any certificate"),
        pytest.param("x5c", "same key, new certificate", False, id="x5c: that certificate only"),
        pytest.param("x5c", "other", False, id="another key"),
    ],
)
async def test_rfc8705_2_2_self_signed_certificate_registered_in_jwks(
    services: Services, registered: str, presented: str, ok: bool
) -> None:
    own = self_signed("orders-batch")
    app = await register_app(
        services,
        auth_method="self_signed_tls_client_auth",
        jwks=own.jwks(x5c=registered == "x5c"),
        **SERVICE,
    )
    shown = {
        "same": own,
        "same key, new certificate": renewed(own),
        "other": self_signed("orders-batch"),
    }[presented]
    if ok:
        answer = await post(services, cc(app), shown)
        claims = await verified(services, answer["access_token"], "at+jwt")
        assert claims["cnf"] == {"x5t#S256": x5t_s256(shown.der)}
    else:
        assert (await refused(services, cc(app), shown)).error == "invalid_client"


async def test_rfc8705_3_a_client_registered_for_bound_tokens(services: Services) -> None:
    """RFC 8705 §3.4: tls_client_certificate_bound_access_tokens, with any authentication:
    the token is bound to the certificate, which must be there; no DPoP proof beside."""
    app = await register_app(services, tls_client_certificate_bound_access_tokens=True, **SERVICE)
    params = {"grant_type": "client_credentials", "scope": "read"}
    answer = await post(services, params, GOOD, authorization=basic(app))
    claims = await verified(services, answer["access_token"], "at+jwt")
    assert claims["cnf"] == {"x5t#S256": x5t_s256(GOOD.der)}
    error = await refused(services, params, None, authorization=basic(app))
    assert error.error == "invalid_request" and "not configured" in error.description
    proof = DPoPClient().proof("POST", f"{ISSUER}/token")
    error = await refused(services, params, GOOD, authorization=basic(app), proofs=(proof,))
    assert error.error == "invalid_request" and "not to a DPoP key" in error.description


async def test_rfc9449_a_dpop_proof_wins_over_an_mtls_authentication(services: Services) -> None:
    """A token is bound to one key: with a proof, the DPoP key; never both."""
    app = await pki_client(services)
    dpop = DPoPClient()
    answer = await post(services, cc(app), GOOD, proofs=(dpop.proof("POST", f"{ISSUER}/token"),))
    assert answer["token_type"] == "DPoP"
    claims = await verified(services, answer["access_token"], "at+jwt")
    assert claims["cnf"] == {"jkt": dpop.jkt}


async def test_a_certificate_of_another_client_binds_nothing(services: Services) -> None:
    app = await register_app(services, **SERVICE)
    params = {"grant_type": "client_credentials", "scope": "read"}
    answer = await post(services, params, GOOD, authorization=basic(app))
    assert "cnf" not in await verified(services, answer["access_token"], "at+jwt")


async def test_the_token_service_never_binds_to_both(services: Services) -> None:
    app = await register_app(services, **SERVICE)
    grant = Grant(app.client, app.client_id, None, frozenset({"read"}), jkt="k", x5t="c")
    issued_token = await services.tokens.access_token(grant)
    claims = await verified(services, issued_token.token, "at+jwt")
    assert claims["cnf"] == {"jkt": "k"}
    assert TokenRequest({}, app.client, None, "c").x5t == "c"


async def test_rfc8705_3_2_introspection_shows_the_binding(services: Services) -> None:
    app = await pki_client(services)
    answer = await post(services, cc(app), GOOD)
    body = urlencode({"client_id": app.client_id, "token": answer["access_token"]}).encode()
    shown = await introspection.introspect(services, body, None, CLIENT_IP, cert(GOOD))
    assert shown["active"] is True and shown["token_type"] == "Bearer"
    assert shown["cnf"] == {"x5t#S256": x5t_s256(GOOD.der)}


async def test_rfc8705_4_a_public_clients_refresh_token_is_bound_too(services: Services) -> None:
    """RFC 8705 §4: a public client's refresh token is bound to its certificate: refused
    with another one, usable with the same."""
    app = await register_app(services, public=True, tls_client_certificate_bound_access_tokens=True)
    code = await authorize_code(
        services, app, await sign_in(services), scope="openid read offline_access"
    )
    params = {"client_id": app.client_id, **exchange_params(code)}
    answer = await post(services, params, GOOD)
    claims = await verified(services, answer["access_token"], "at+jwt")
    assert claims["cnf"] == {"x5t#S256": x5t_s256(GOOD.der)}
    refresh = {
        "grant_type": "refresh_token",
        "client_id": app.client_id,
        "refresh_token": answer["refresh_token"],
    }
    error = await refused(services, refresh, WRONG)
    assert error.error == "invalid_grant" and "certificate" in error.description
    renewed = await post(services, refresh, GOOD)
    assert "refresh_token" in renewed


async def test_fapi2_5_3_2_1_a_certificate_bound_token_instead_of_dpop(
    services: Services,
) -> None:
    """FAPI 2.0 §5.3.2.1: sender-constrained by DPoP or mutual TLS."""
    app = await pki_client(services, profile="fapi2")
    answer = await post(services, cc(app), GOOD)
    claims = await verified(services, answer["access_token"], "at+jwt")
    assert claims["cnf"] == {"x5t#S256": x5t_s256(GOOD.der)}
