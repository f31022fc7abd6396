"""Client authentication with signed JWTs (RFC 7523 §2.2 and §3, OIDC Core §9), judged by
Authlib's client side: ``PrivateKeyJWT`` and ``ClientSecretJWT`` make the assertions of
the accepted cases; the refused ones are assertions Authlib's JOSE code signs with one
rule broken each."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ostiary.oauth.registration import RegistrationError
from tests.conftest import LiveServer
from tests.e2e.helpers import RegisteredClient, make_client

with warnings.catch_warnings():
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.jose import JsonWebKey, jwt
    from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_key(kid: str | None = None, kty: str = "EC") -> Any:
    options = {"kid": kid or secrets.token_hex(4)}
    crv_or_size = "P-256" if kty == "EC" else 2048
    return JsonWebKey.generate_key(kty, crv_or_size, options, is_private=True)


def public_set(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(is_private=False) for k in keys]}


def key_client(server: LiveServer, **spec: Any) -> RegisteredClient:
    return make_client(
        server,
        redirect_uris=[],
        grant_types=["client_credentials"],
        auth_method=spec.pop("auth_method", "private_key_jwt"),
        **spec,
    )


def assertion(
    client_id: str,
    key: Any,
    audience: str,
    *,
    alg: str = "ES256",
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": secrets.token_urlsafe(12),
        "iat": now,
        "exp": now + 60,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    head = {"alg": alg, **({"kid": key.kid} if getattr(key, "kid", None) else {})}
    head.update(header or {})
    return jwt.encode(head, payload, key).decode()


def short_lived() -> dict[str, int]:
    return {"exp": int(time.time()) + 120}


def unsigned_jws(header: dict[str, Any], claims: dict[str, Any], mac_key: bytes | None) -> str:
    """A JWS built by hand: ``alg`` none, or an HMAC under ``mac_key`` (what no JOSE
    library will make, which is the point of the tests that send them)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    if mac_key is None:
        return signing_input + "."
    mac = hmac.new(mac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def token_with(server: LiveServer, _client_id: str, signed: str, **extra: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
            **extra,
        },
    )


def assert_invalid_client(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


# -- accepted --------------------------------------------------------------------------------


def test_rfc7523_2_2_private_key_jwt_with_registered_jwks(server: LiveServer) -> None:
    key = new_key(kty="RSA")
    client = key_client(server, jwks=public_set(key))
    token_url = f"{server.base_url}/token"
    with OAuth2Client(
        client.client_id,
        key.as_pem(is_private=True),
        # Authlib's assertions live an hour unless told; Ostiary takes five minutes at most.
        token_endpoint_auth_method=PrivateKeyJWT(token_url, claims=short_lived()),
    ) as oauth:
        token = oauth.fetch_token(token_url, grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["access_token"]


def test_rfc7523_3_the_issuer_is_an_audience_too(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    response = token_with(
        server, client.client_id, assertion(client.client_id, key, server.base_url)
    )
    assert response.status_code == 200, response.text


def test_oidc_core_9_client_secret_jwt(server: LiveServer) -> None:
    client = key_client(server, auth_method="client_secret_jwt")
    assert client.secret is not None
    token_url = f"{server.base_url}/token"
    with OAuth2Client(
        client.client_id,
        client.secret,
        token_endpoint_auth_method=ClientSecretJWT(token_url, claims=short_lived(), alg="HS256"),
    ) as oauth:
        token = oauth.fetch_token(token_url, grant_type="client_credentials")
    assert token["access_token"]


class _Jwks:
    """A client's jwks_uri on loopback, whose keys the test changes (a rotation)."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_uri() -> Iterator[_Jwks]:
    served = _Jwks()
    yield served
    served.close()


def test_rfc7523_jwks_uri_is_fetched_and_a_new_kid_fetches_it_again(
    server: LiveServer, jwks_uri: _Jwks
) -> None:
    first = new_key("first")
    jwks_uri.document = public_set(first)
    client = key_client(server, jwks_uri=jwks_uri.url)
    audience = f"{server.base_url}/token"
    response = token_with(server, client.client_id, assertion(client.client_id, first, audience))
    assert response.status_code == 200, response.text
    fetched = jwks_uri.fetches
    # Still cached: a second assertion under the same key fetches nothing.
    response = token_with(server, client.client_id, assertion(client.client_id, first, audience))
    assert response.status_code == 200 and jwks_uri.fetches == fetched
    # The client rotates; a kid never seen makes the server fetch again (rate-limited to
    # once per 10 s per URI, so the test waits that long at most).
    second = new_key("second")
    jwks_uri.document = public_set(second)
    deadline = time.monotonic() + 15
    while True:
        response = token_with(
            server, client.client_id, assertion(client.client_id, second, audience)
        )
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert response.status_code == 200, response.text
    assert jwks_uri.fetches > fetched


def test_introspection_and_revocation_take_private_key_jwt(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    audience = server.base_url
    issued = token_with(server, client.client_id, assertion(client.client_id, key, audience))
    access_token = issued.json()["access_token"]
    for path in ("/introspect", "/revoke"):
        response = httpx.post(
            f"{server.base_url}{path}",
            data={
                "token": access_token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(client.client_id, key, audience),
            },
        )
        assert response.status_code == 200, (path, response.text)
    # RFC 7009 §2.2 then RFC 7662 §2.2: the revoked token is inactive.


# -- refused ---------------------------------------------------------------------------------


def test_rfc7523_3_7_a_replayed_assertion_is_refused(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    signed = assertion(client.client_id, key, f"{server.base_url}/token")
    assert token_with(server, client.client_id, signed).status_code == 200
    assert_invalid_client(token_with(server, client.client_id, signed))


@pytest.mark.parametrize(
    ("rule", "claims"),
    [
        ("3.1 iss is the client", {"iss": "someone-else"}),
        ("3.2 sub is the client", {"sub": "someone-else"}),
        ("3.3 aud names this server", {"aud": "https://other.example.com/token"}),
        ("3.4 exp present", {"exp": None}),
        ("3.4 exp not passed", {"exp": int(time.time()) - 3600}),
        ("lifetime at most 5 minutes", {"exp": int(time.time()) + 3600}),
        ("3.5 nbf reached", {"nbf": int(time.time()) + 3600}),
        ("3.6 iat not in the future", {"iat": int(time.time()) + 3600}),
        ("3.7 jti present", {"jti": None}),
    ],
)
def test_rfc7523_3_assertion_claims_are_checked(
    server: LiveServer, rule: str, claims: dict[str, Any]
) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    signed = assertion(client.client_id, key, f"{server.base_url}/token", **claims)
    if claims.get("sub") == "someone-else":
        response = token_with(server, client.client_id, signed, client_id=client.client_id)
        assert response.status_code == 401, rule
    else:
        assert_invalid_client(token_with(server, client.client_id, signed))


def test_rfc7523_an_assertion_signed_by_an_unregistered_key_is_refused(server: LiveServer) -> None:
    registered, other = new_key("k1"), new_key("k1")
    client = key_client(server, jwks=public_set(registered))
    signed = assertion(client.client_id, other, f"{server.base_url}/token")
    assert_invalid_client(token_with(server, client.client_id, signed))


def test_rfc8725_3_1_alg_none_is_refused(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    now = int(time.time())
    claims = {
        "iss": client.client_id, "sub": client.client_id, "aud": server.base_url,
        "jti": secrets.token_hex(8), "exp": now + 60,
    }  # fmt: skip
    unsigned = unsigned_jws({"alg": "none"}, claims, None)
    assert_invalid_client(token_with(server, client.client_id, unsigned))


def test_rfc8725_2_1_hmac_under_the_public_key_is_refused(server: LiveServer) -> None:
    """Algorithm confusion: an HS256 'signature' keyed with the registered public key."""
    key = new_key(kty="RSA")
    client = key_client(server, jwks=public_set(key))
    now = int(time.time())
    claims = {
        "iss": client.client_id, "sub": client.client_id, "aud": server.base_url,
        "jti": secrets.token_hex(8), "exp": now + 60,
    }  # fmt: skip
    forged = unsigned_jws({"alg": "HS256", "kid": key.kid}, claims, key.as_pem(is_private=False))
    assert_invalid_client(token_with(server, client.client_id, forged))


def test_the_registered_signing_alg_is_the_only_one(server: LiveServer) -> None:
    key = new_key(kty="RSA")
    client = key_client(server, jwks=public_set(key), token_endpoint_auth_signing_alg="PS256")
    signed = assertion(client.client_id, key, server.base_url, alg="RS256")
    assert_invalid_client(token_with(server, client.client_id, signed))
    signed = assertion(client.client_id, key, server.base_url, alg="PS256")
    assert token_with(server, client.client_id, signed).status_code == 200


def test_rfc6749_2_3_a_client_uses_the_method_it_registered(server: LiveServer) -> None:
    key = new_key()
    jwt_client = key_client(server, jwks=public_set(key))
    secret_client = key_client(server, auth_method="client_secret_basic")
    # A secret client cannot switch to an assertion, nor a key client to a secret.
    signed = assertion(secret_client.client_id, key, server.base_url)
    assert_invalid_client(token_with(server, secret_client.client_id, signed))
    response = httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "client_credentials"},
        auth=(jwt_client.client_id, "a-guess"),
    )
    assert response.status_code == 401


def test_rfc7521_4_2_assertion_type_must_be_jwt_bearer(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    response = httpx.post(
        f"{server.base_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:example:other",
            "client_assertion": assertion(client.client_id, key, server.base_url),
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_rfc6749_2_3_an_assertion_and_a_secret_together_are_refused(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    response = httpx.post(
        f"{server.base_url}/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client.client_id, key, server.base_url),
        },
        auth=(client.client_id, "secret"),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_rfc8414_2_metadata_lists_the_methods_and_algorithms(server: LiveServer) -> None:
    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server").json()
    for name in ("token", "revocation", "introspection"):
        methods = metadata[f"{name}_endpoint_auth_methods_supported"]
        assert {"private_key_jwt", "client_secret_jwt"} <= set(methods)
        algs = metadata[f"{name}_endpoint_auth_signing_alg_values_supported"]
        assert "ES256" in algs and "HS256" in algs and "none" not in algs


# -- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "jwks or jwks_uri"),
        ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "RSA, EC or OKP"),
        ({"jwks": "keys"}, "JWK Set"),
        ({"jwks_uri": "ftp://example.com/jwks"}, "jwks_uri"),
        ({"jwks_uri": "http://example.com/jwks"}, "jwks_uri"),
    ],
)
def test_rfc7591_2_private_key_jwt_registration_needs_public_keys(
    server: LiveServer, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        key_client(server, **spec)


def test_rfc7591_2_a_private_key_is_refused_and_jwks_and_jwks_uri_exclude_each_other(
    server: LiveServer,
) -> None:
    key = new_key()
    with pytest.raises(RegistrationError, match="private members"):
        key_client(server, jwks={"keys": [key.as_dict(is_private=True)]})
    with pytest.raises(RegistrationError, match="not both"):
        key_client(server, jwks=public_set(key), jwks_uri="https://app.example.com/jwks")


@pytest.mark.parametrize("typ", ["oauth-authz-req+jwt", "dpop+jwt", "at+jwt"])
def test_rfc8725_3_11_another_kind_of_jwt_is_no_assertion(server: LiveServer, typ: str) -> None:
    """A request object (or any other JWT the client signs) with the claims an assertion
    needs is still not one: typ tells them apart."""
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    signed = assertion(client.client_id, key, server.base_url, header={"typ": typ})
    assert_invalid_client(token_with(server, client.client_id, signed))
    plain = assertion(client.client_id, key, server.base_url, header={"typ": "JWT"})
    assert token_with(server, client.client_id, plain).status_code == 200


def test_rfc7523_3_3_an_aud_array_holding_this_server_is_accepted(server: LiveServer) -> None:
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    signed = assertion(
        client.client_id, key, "unused", aud=["https://other.example.com", server.base_url]
    )
    assert token_with(server, client.client_id, signed).status_code == 200


def test_rfc7515_4_1_11_an_assertion_with_a_critical_extension_is_refused(
    server: LiveServer,
) -> None:
    """Signed by the registered key, every claim right: only the crit header is wrong."""
    key = new_key()
    client = key_client(server, jwks=public_set(key))
    header = {"alg": "ES256", "kid": key.kid, "crit": ["urn:example:ext"],
              "urn:example:ext": True}  # fmt: skip
    now = int(time.time())
    claims = {
        "iss": client.client_id, "sub": client.client_id, "aud": server.base_url,
        "jti": secrets.token_hex(8), "exp": now + 60,
    }  # fmt: skip
    assert_invalid_client(token_with(server, client.client_id, es256_jws(header, claims, key)))
    del header["crit"], header["urn:example:ext"]
    claims["jti"] = secrets.token_hex(8)
    assert token_with(server, client.client_id, es256_jws(header, claims, key)).status_code == 200


def es256_jws(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A compact ES256 JWS signed with cryptography itself (JOSE libraries refuse to make
    one with an extension they do not know)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    private = serialization.load_pem_private_key(key.as_pem(is_private=True), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
