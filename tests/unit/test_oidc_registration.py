"""OpenID Connect client metadata rules (Dynamic Client Registration 1.0 §2, RP-Initiated
Logout §3.1, Back-Channel Logout §2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.oauth.redirect_uris import registration_problem
from ostiary.oauth.registration import ClientSpec, RegistrationError, check, check_oidc

WEB = "https://app.example.com/callback"


def spec(**overrides: Any) -> ClientSpec:
    values: dict[str, Any] = {
        "name": "Example RP",
        "redirect_uris": [WEB],
        "grant_types": [],
        "scopes": ["openid", "profile", "email"],
    }
    values.update(overrides)
    return ClientSpec(**values)


def _refused(client: ClientSpec, fragment: str) -> None:
    """Refused by check_oidc alone and by the whole check() alike."""
    with pytest.raises(RegistrationError) as info:
        check_oidc(client)
    assert fragment in str(info.value)
    with pytest.raises(RegistrationError):
        check(client)


def _accepted(client: ClientSpec) -> None:
    check_oidc(client)
    check(client)


def test_oidc_registration_2_defaults_are_accepted() -> None:
    _accepted(spec())


# -- RP-Initiated Logout §3.1: post_logout_redirect_uris --------------------------------------

POST_LOGOUT_URIS = [
    "https://app.example.com/signed-out",
    "https://app.example.com/signed-out?from=op",
    "https://app.example.com:8443/bye",
    "http://127.0.0.1:8080/bye",
    "http://[::1]/bye",
    "http://localhost:3000/bye",
    "com.example.app:/signed-out",
    "http://app.example.com/bye",
    "https://app.example.com/bye#top",
    "javascript:alert(1)",
    "data:text/html,bye",
    "/signed-out",
    "https:///no-host",
    "https://app.example.com/sign out",
    "myapp:/bye",
    "https://app.example.com:99999/bye",
]


@pytest.mark.parametrize("uri", POST_LOGOUT_URIS)
def test_rp_initiated_logout_3_1_post_logout_uris_follow_redirect_uri_rules(uri: str) -> None:
    """A post-logout redirect URI is registered under exactly the redirect URI rules."""
    client = spec(post_logout_redirect_uris=[uri])
    if registration_problem(uri) is None:
        _accepted(client)
    else:
        _refused(client, "post-logout redirect URI")


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/bye",
        "https://app.example.com/bye#top",
        "javascript:alert(1)",
        "/signed-out",
        "myapp:/bye",
    ],
)
def test_rp_initiated_logout_3_1_bad_post_logout_uris_are_refused(uri: str) -> None:
    _refused(spec(post_logout_redirect_uris=[uri]), "post-logout redirect URI")


def test_rp_initiated_logout_3_1_every_post_logout_uri_is_checked() -> None:
    good = "https://app.example.com/bye"
    _accepted(spec(post_logout_redirect_uris=[good, "com.example.app:/bye"]))
    _refused(spec(post_logout_redirect_uris=[good, "http://evil.example/"]), "evil.example")


# -- Back-Channel Logout §2.2: backchannel_logout_uri -----------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example.com/backchannel-logout",
        "https://rp.example.com/bc?tenant=a",
        "https://rp.example.com:8443/bc",
        "http://127.0.0.1:9000/bc",
        "http://[::1]:9000/bc",
        "http://localhost:9000/bc",
    ],
)
def test_backchannel_logout_2_2_absolute_http_uris_are_accepted(uri: str) -> None:
    """§2.2: absolute, https (http here only on loopback), query allowed."""
    _accepted(spec(backchannel_logout_uri=uri, backchannel_logout_session_required=True))


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example.com/bc#frag",
        "http://127.0.0.1:9000/bc#frag",
        "http://rp.example.com/bc",
        "http://10.0.0.7/bc",
        "com.example.app:/bc",
        "ftp://rp.example.com/bc",
        "javascript:alert(1)",
        "/bc",
        "rp.example.com/bc",
        "https:///bc",
        "https://rp.example.com/b c",
        "https://rp.example.com:99999/bc",
        "",
    ],
)
def test_backchannel_logout_2_2_other_uris_are_refused(uri: str) -> None:
    """§2.2: no fragment, no relative URI, no other scheme; plain http off loopback refused."""
    _refused(spec(backchannel_logout_uri=uri), "back-channel logout URI")


# -- Registration §2: id_token_signed_response_alg ---------------------------------------------


@pytest.mark.parametrize("alg", [None, "RS256", "ES256", "PS256", "EdDSA"])
def test_oidc_registration_2_supported_id_token_algs_are_accepted(alg: str | None) -> None:
    _accepted(spec(id_token_signed_response_alg=alg))


@pytest.mark.parametrize(
    "alg", ["none", "HS256", "RS512", "ES384", "ES256K", "rs256", "eddsa", "Ed25519", ""]
)
def test_oidc_registration_2_other_id_token_algs_are_refused(alg: str) -> None:
    """§2: the OP must be able to sign with it; never none, never a MAC (OIDC Core §10.1)."""
    _refused(spec(id_token_signed_response_alg=alg), "id_token_signed_response_alg")


# -- ID-token lifetime -------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [None, 60, 61, 3600, 86399, 86400])
def test_oidc_core_2_id_token_ttl_within_bounds_is_accepted(ttl: int | None) -> None:
    _accepted(spec(id_token_ttl=ttl))


@pytest.mark.parametrize("ttl", [-3600, -1, 0, 1, 59, 86401, 10**9])
def test_oidc_core_2_id_token_ttl_out_of_bounds_is_refused(ttl: int) -> None:
    _refused(spec(id_token_ttl=ttl), "ID-token lifetime")


def test_oidc_registration_oidc_fields_round_trip_through_the_spec() -> None:
    client = spec(
        post_logout_redirect_uris=["https://app.example.com/bye"],
        backchannel_logout_uri="https://app.example.com/bc",
        backchannel_logout_session_required=True,
        id_token_signed_response_alg="ES256",
        id_token_ttl=600,
        session_refresh_tokens=True,
    )
    _accepted(client)
    assert client.oidc_fields() == {
        "post_logout_redirect_uris": ["https://app.example.com/bye"],
        "backchannel_logout_uri": "https://app.example.com/bc",
        "backchannel_logout_session_required": True,
        "id_token_signed_response_alg": "ES256",
        "id_token_ttl": 600,
        "session_refresh_tokens": True,
        "include_roles": False,
        "include_groups": False,
        # Client security metadata, unset.
        "jwks": None,
        "jwks_uri": None,
        "token_endpoint_auth_signing_alg": None,
        "require_pushed_authorization_requests": False,
        "dpop_bound_access_tokens": False,
        "require_signed_request_object": False,
        "request_object_signing_alg": None,
        "tls_client_auth_subject_dn": None,
        "tls_client_certificate_bound_access_tokens": False,
        "profile": None,
    }
