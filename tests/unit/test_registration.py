"""Client registration rules (RFC 6749 §2, RFC 7591 §2 metadata semantics)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ostiary.oauth.registration import ClientSpec, RegistrationError, check

WEB = "https://app.example.com/callback"


def spec(**overrides: Any) -> ClientSpec:
    values: dict[str, Any] = {
        "name": "Example App",
        "redirect_uris": [WEB],
        "grant_types": [],
        "scopes": ["read", "write"],
    }
    values.update(overrides)
    return ClientSpec(**values)


def _refused(client: ClientSpec, fragment: str) -> None:
    with pytest.raises(RegistrationError) as info:
        check(client)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "grants", "method"),
    [
        ({}, ["authorization_code", "refresh_token"], "client_secret_basic"),
        ({"redirect_uris": []}, ["client_credentials"], "client_secret_basic"),
        ({"public": True}, ["authorization_code", "refresh_token"], "none"),
        ({"public": True, "auth_method": "none"}, ["authorization_code", "refresh_token"], "none"),
        (
            {"auth_method": "client_secret_post"},
            ["authorization_code", "refresh_token"],
            "client_secret_post",
        ),
        ({"grant_types": ["authorization_code"]}, ["authorization_code"], "client_secret_basic"),
        (
            {"grant_types": ["authorization_code", "client_credentials"]},
            ["authorization_code", "client_credentials"],
            "client_secret_basic",
        ),
        (
            {"redirect_uris": [], "grant_types": ["client_credentials"]},
            ["client_credentials"],
            "client_secret_basic",
        ),
    ],
)
def test_rfc7591_s2_defaults_and_accepted_registrations(
    overrides: dict[str, Any], grants: list[str], method: str
) -> None:
    """RFC 7591 §2: grant types and auth method default sensibly from the other metadata."""
    assert check(spec(**overrides)) == (grants, method)


@pytest.mark.parametrize(
    "uris",
    [
        ["http://127.0.0.1/cb"],
        ["http://[::1]:8080/cb"],
        ["com.example.app:/oauth2redirect"],
        [WEB, "https://app.example.com/other"],
    ],
)
def test_rfc8252_public_native_client_registrations(uris: list[str]) -> None:
    """RFC 8252 §7.1/§7.3, RFC 6749 §2.1: native apps are public clients using 'none'."""
    assert check(spec(public=True, redirect_uris=uris)) == (
        ["authorization_code", "refresh_token"],
        "none",
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"public": True, "redirect_uris": []},
        {"public": True, "grant_types": ["client_credentials"], "redirect_uris": []},
        {"public": True, "grant_types": ["authorization_code", "client_credentials"]},
    ],
)
def test_rfc6749_s4_4_public_client_cannot_use_client_credentials(
    overrides: dict[str, Any],
) -> None:
    """RFC 6749 §4.4: the client credentials grant MUST only be used by confidential clients."""
    _refused(spec(**overrides), "client_credentials")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
def test_rfc6749_s2_1_public_client_cannot_use_a_secret_method(method: str) -> None:
    """RFC 6749 §2.1: a public client cannot keep a secret, so it authenticates with 'none'."""
    _refused(spec(public=True, auth_method=method), "'none'")


@pytest.mark.parametrize("method", ["none", "tls_client_auth_dn", "BASIC"])
def test_rfc6749_s2_3_confidential_client_needs_an_authentication_method(method: str) -> None:
    """RFC 6749 §2.3: a confidential client authenticates, with a method offered here."""
    _refused(spec(auth_method=method), "auth method")


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uris": [], "grant_types": ["authorization_code"]},
        {"redirect_uris": [], "grant_types": ["authorization_code", "refresh_token"]},
        {"redirect_uris": [], "grant_types": ["authorization_code"], "public": True},
    ],
)
def test_rfc6749_s3_1_2_2_authorization_code_needs_a_redirect_uri(
    overrides: dict[str, Any],
) -> None:
    """RFC 6749 §3.1.2.2 (and RFC 9700 §2.1): code clients MUST register redirect URIs."""
    _refused(spec(**overrides), "redirect-uri")


@pytest.mark.parametrize(
    "grants",
    [
        ["refresh_token"],
        ["client_credentials", "refresh_token"],
    ],
)
def test_rfc6749_s4_4_3_refresh_token_only_with_authorization_code(grants: list[str]) -> None:
    """RFC 6749 §4.4.3: a refresh token SHOULD NOT come with client credentials."""
    _refused(spec(grant_types=grants), "refresh_token")


@pytest.mark.parametrize(
    "grant",
    [
        "password",
        "implicit",
        "token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "Authorization_Code",
        "",
    ],
)
def test_rfc9700_s2_4_unknown_or_deprecated_grant_types_refused(grant: str) -> None:
    """RFC 9700 §2.1.2/§2.4: no implicit or password grant; unknown grants are refused."""
    with pytest.raises(RegistrationError) as info:
        check(spec(grant_types=["authorization_code", grant]))
    message = str(info.value)
    assert message.startswith(f"unsupported grant type(s): {grant} (supported: ")


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example.com/cb",
        "https://app.example.com/cb#frag",
        "javascript:alert(1)",
        "myapp://cb",
        "/relative",
    ],
)
def test_rfc6749_s3_1_2_bad_redirect_uri_refused(uri: str) -> None:
    """RFC 6749 §3.1.2, RFC 8252 §7: each redirect URI must pass the registration rules."""
    _refused(spec(redirect_uris=[WEB, uri]), "redirect URI")


@pytest.mark.parametrize("scope", ['a"b', "a\\b", "read write", "", "caf\u00e9", "a\tb", "\x7f"])
def test_rfc6749_s3_3_bad_scope_characters_refused(scope: str) -> None:
    """RFC 6749 §3.3: each registered scope must be a scope-token."""
    _refused(spec(scopes=["read", scope]), "RFC 6749 §3.3")


@pytest.mark.parametrize("name", ["", " ", "\t\n"])
def test_rfc7591_s2_client_name_required(name: str) -> None:
    """RFC 7591 §2 (client_name): operators need a human-readable name."""
    _refused(spec(name=name), "name")


@pytest.mark.parametrize(
    ("field", "ttl"),
    [
        ("access_token_ttl", 0),
        ("access_token_ttl", -1),
        ("refresh_token_ttl", 0),
        ("refresh_token_ttl", -3600),
    ],
)
def test_token_lifetimes_must_be_positive(field: str, ttl: int) -> None:
    """RFC 6749 §4.2.2/§5.1 (expires_in): a lifetime is a positive number of seconds."""
    _refused(spec(**{field: ttl}), "positive")


@pytest.mark.parametrize("ttl", [86401, 10**9])
def test_rfc9068_access_token_lifetime_capped_at_one_day(ttl: int) -> None:
    """RFC 9700 §4.10 spirit: access tokens are short-lived; capped so key retirement works."""
    _refused(spec(access_token_ttl=ttl), "86400")


@pytest.mark.parametrize(
    ("access", "refresh"),
    [(1, None), (86400, None), (None, 1), (3600, 365 * 86400), (None, 10**9)],
)
def test_token_lifetimes_within_bounds_accepted(access: int | None, refresh: int | None) -> None:
    """Access up to a day; refresh tokens have no upper cap."""
    client = spec(access_token_ttl=access, refresh_token_ttl=refresh)
    assert check(client) == (["authorization_code", "refresh_token"], "client_secret_basic")


def test_check_does_not_mutate_the_spec() -> None:
    """check() only validates; the defaults it computes are returned, not written back."""
    client = spec()
    before = replace(client)
    check(client)
    assert client == before
    assert client.grant_types == []


@pytest.mark.parametrize(
    "client_id",
    [
        "abc",
        "s6BhdRkqt3",
        "my-app.prod_v2~x",
        "a" * 64,
        "0123456789abcdef0123456789abcdef",  # hex, but not in the hyphenated UUID form
        "123e4567-e89b-12d3-a456-42661417400",  # one hex digit short of a UUID
    ],
)
def test_rfc6749_s2_2_chosen_client_id_accepted(client_id: str) -> None:
    """RFC 6749 §2.2: an operator-chosen client_id of unreserved characters is fine."""
    assert check(spec(client_id=client_id))[1] == "client_secret_basic"


@pytest.mark.parametrize(
    "client_id",
    ["", "ab", "a" * 65, "has space", "slash/id", "colon:id", "percent%20", "caf\u00e9", "a+b"],
)
def test_rfc6749_s2_2_client_id_shape_refused(client_id: str) -> None:
    """RFC 6749 §2.2 / Appendix A.1: 3..64 unreserved characters (safe in Basic, URLs, logs)."""
    _refused(spec(client_id=client_id), "client_id takes 3 to 64 characters")


@pytest.mark.parametrize(
    "client_id",
    [
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567-E89B-12D3-A456-426614174000",
        "00000000-0000-0000-0000-000000000000",
    ],
)
def test_rfc9700_s4_15_client_id_cannot_look_like_a_user_id(client_id: str) -> None:
    """RFC 9700 §4.15: a client's sub must never be confusable with a user's (UUID) sub."""
    _refused(spec(client_id=client_id), "UUID")


# A P-256 public key: registered keys make signed request objects possible (RFC 9101).
EC_JWKS = {
    "keys": [
        {
            "kty": "EC",
            "crv": "P-256",
            "x": "31QdVJjD2PHIdKlCmcafqpMAGmg3Rpi6YRQSBmGySrE",
            "y": "wZLQNgoW9kfn7kV0Ac-zI_QoR5mnCcL9BNELO1B_9nY",
            "kid": "k1",
        }
    ]
}


@pytest.mark.parametrize(
    "overrides",
    [
        {"jwks": EC_JWKS, "request_object_signing_alg": "ES256"},
        {"jwks": EC_JWKS, "require_signed_request_object": True},
        {"jwks_uri": "https://app.example.com/jwks", "require_signed_request_object": True},
    ],
)
def test_rfc9101_10_5_request_object_settings_are_accepted(overrides: dict[str, Any]) -> None:
    """RFC 9101 §10.5, OIDC Registration §2: request objects are offered, so a client may
    name its algorithm and be held to signed request objects."""
    check(spec(**overrides))


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"require_signed_request_object": True}, "jwks or jwks_uri"),
        ({"request_object_signing_alg": "ES256"}, "jwks or jwks_uri"),
        ({"jwks": EC_JWKS, "request_object_signing_alg": "HS256"}, "request_object_signing_alg"),
        ({"jwks": EC_JWKS, "request_object_signing_alg": "none"}, "request_object_signing_alg"),
    ],
)
def test_rfc9101_10_5_request_object_settings_need_keys_and_an_asymmetric_alg(
    overrides: dict[str, Any], fragment: str
) -> None:
    """The client's own keys check its request objects: none registered, nothing could be
    checked; HS256 keyed with a public key and alg none are forgeries (RFC 8725 §3.1)."""
    _refused(spec(**overrides), fragment)
