"""Registration rules of client security (RFC 7591 §2 metadata of RFC 7523, RFC 8705,
FAPI 2.0): one rule per field, whatever the entry point (CLI, admin API, import)."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import ECKey

from ostiary.oauth.registration import ClientSpec, RegistrationError, check

KEY = ECKey.generate_key("P-256", parameters={"kid": "k1"})
JWKS = {"keys": [KEY.as_dict(private=False)]}


def spec(**overrides: Any) -> ClientSpec:
    values: dict[str, Any] = {
        "name": "service",
        "redirect_uris": [],
        "grant_types": ["client_credentials"],
        "scopes": ["read"],
    }
    values.update(overrides)
    return ClientSpec(**values)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tls_client_auth_subject_dn": "CN=app"}, "applies to tls_client_auth only"),
        ({"auth_method": "tls_client_auth"}, "subject_dn"),
        ({"auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "cn=app, o=x"},
         "RFC 4514"),
        ({"auth_method": "self_signed_tls_client_auth"}, "jwks or jwks_uri"),
        ({"tls_client_certificate_bound_access_tokens": True, "dpop_bound_access_tokens": True},
         "not both"),
        ({"auth_method": "client_secret_post", "profile": "fapi2"}, "mutual TLS"),
        ({"auth_method": "client_secret_basic", "token_endpoint_auth_signing_alg": "ES256"},
         "applies to private_key_jwt and client_secret_jwt"),
        ({"auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "ES256"},
         "HS256"),
        ({"auth_method": "private_key_jwt", "jwks": JWKS,
          "token_endpoint_auth_signing_alg": "HS256"}, "ES256"),
        ({"auth_method": "private_key_jwt", "jwks": JWKS,
          "jwks_uri": "https://app.example.com/jwks"}, "not both"),
        ({"auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks#k"},
         "jwks_uri"),
        ({"profile": "fapi1"}, "fapi2 or none"),
        ({"profile": "fapi2"}, "private_key_jwt"),
        ({"profile": "fapi2", "public": True, "grant_types": ["authorization_code"],
          "redirect_uris": ["https://app.example.com/cb"]}, "confidential"),
    ],
)  # fmt: skip
def test_rfc7591_2_client_security_metadata_is_checked(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(RegistrationError, match=message):
        check(spec(**overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"auth_method": "private_key_jwt", "jwks": JWKS},
        {
            "auth_method": "private_key_jwt",
            "jwks": JWKS,
            "token_endpoint_auth_signing_alg": "ES256",
        },
        {"auth_method": "private_key_jwt", "jwks_uri": "https://app.example.com/jwks"},
        {"auth_method": "private_key_jwt", "jwks_uri": "http://127.0.0.1:9000/jwks"},
        {"auth_method": "client_secret_jwt", "token_endpoint_auth_signing_alg": "HS512"},
        {"auth_method": "private_key_jwt", "jwks": JWKS, "profile": "fapi2"},
        {"dpop_bound_access_tokens": True},
        {"auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=app,O=Acme,C=DE"},
        {"auth_method": "self_signed_tls_client_auth", "jwks": JWKS},
        {"auth_method": "self_signed_tls_client_auth", "jwks_uri": "https://app.example.com/k"},
        {"tls_client_certificate_bound_access_tokens": True},
        {
            "auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=bank-app",
            "profile": "fapi2",
        },
    ],
)
def test_rfc7591_2_client_security_metadata_accepted(overrides: dict[str, Any]) -> None:
    _, method = check(spec(**overrides))
    assert method == overrides.get("auth_method", "client_secret_basic")
