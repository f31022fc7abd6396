"""Reading client credentials from a token-endpoint request (RFC 6749 §2.3, §2.3.1, §5.2)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.errors import OAuthError
from ostiary.oauth.client_auth.base import Presented, presented_credentials, read_basic

CHALLENGE = 'Basic realm="ostiary", charset="UTF-8"'


def basic(client_id: str, secret: str, *, encode: bool = True, scheme: str = "Basic") -> str:
    """An Authorization header as RFC 6749 §2.3.1 asks clients to build it."""
    if encode:
        client_id, secret = quote_plus(client_id), quote_plus(secret)
    raw = f"{client_id}:{secret}".encode()
    return f"{scheme} {base64.b64encode(raw).decode()}"


def _assert_invalid_client_basic(error: OAuthError) -> None:
    assert error.error == "invalid_client"
    assert error.status == 401
    assert error.headers == {"WWW-Authenticate": CHALLENGE}


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("s6BhdRkqt3", "7Fjfp0ZBr1KtDRbnfVdmIw"),
        ("id:with:colons", "secret"),
        ("id", "secret:with:colons"),
        ("100%", "50% off"),
        ("a+b", "c+d"),
        ("space id", "space secret"),
        ("caf\u00e9", "\u2603"),
        ("id", ""),
        ("&=?/", "#[]@"),
    ],
)
def test_rfc6749_s2_3_1_basic_parts_are_form_urlencoded(client_id: str, secret: str) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded, then used as Basic user/password."""
    assert read_basic(basic(client_id, secret)) == (client_id, secret)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a%3Ab:s", ("a:b", "s")),
        ("a+b:c+d", ("a b", "c d")),
        ("a%2Bb:c%2Bd", ("a+b", "c+d")),
        ("a%25:s", ("a%", "s")),
        ("id:se:cret", ("id", "se:cret")),
        ("id:", ("id", "")),
        (":secret", ("", "secret")),
    ],
)
def test_rfc6749_s2_3_1_basic_decoding_table(raw: str, expected: tuple[str, str]) -> None:
    """RFC 6749 §2.3.1 / RFC 7617 §2: split at the first colon, then form-urldecode each part."""
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    assert read_basic(header) == expected


_PRINTABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Co", "Cn")),
    max_size=40,
).filter(str.isprintable)


@given(client_id=_PRINTABLE, secret=_PRINTABLE)
def test_rfc6749_s2_3_1_basic_round_trips_any_printable_text(client_id: str, secret: str) -> None:
    """RFC 6749 §2.3.1: any printable client_id and secret survive the round trip."""
    assert read_basic(basic(client_id, secret)) == (client_id, secret)


@pytest.mark.parametrize(("client_id", "secret"), [("a\x00b", "s"), ("a", "s\x1f"), ("\n", "s")])
def test_rfc6749_s2_3_1_control_characters_are_invalid_client(client_id: str, secret: str) -> None:
    """No client id or secret has control characters; they never reach the database."""
    with pytest.raises(OAuthError) as caught:
        read_basic(basic(client_id, secret))
    assert caught.value.error == "invalid_client"
    assert caught.value.status == 401


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_rfc7617_s2_basic_scheme_is_case_insensitive(scheme: str) -> None:
    """RFC 7617 §2 / RFC 7235 §2.1: the auth-scheme name is case-insensitive."""
    assert read_basic(basic("id", "secret", scheme=scheme)) == ("id", "secret")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer abc.def.ghi", "Digest username=x", "DPoP abc", "Basicx Zm9vOmJhcg=="],
)
def test_rfc6749_s2_3_1_no_basic_credentials(header: str | None) -> None:
    """RFC 6749 §2.3.1: without a Basic Authorization header there are no Basic credentials."""
    assert read_basic(header) is None


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "Basic !!!notbase64!!!",
        "Basic Zm9vOmJhcg",  # missing padding
        "Basic Zm9v OmJhcg==",  # space inside
        "Basic Zm9v\nOmJhcg==",
        "Basic Zm9vYmFy",  # decodes to "foobar": no colon
        "Basic " + base64.b64encode(b"\xff\xfe:secret").decode(),  # not UTF-8
        "Basic " + base64.urlsafe_b64encode(b"id?>:secret~~").decode(),  # base64url alphabet
    ],
)
def test_rfc6749_s5_2_malformed_basic_is_401_with_challenge(header: str) -> None:
    """RFC 6749 §5.2: failed Authorization-header authentication → 401 + WWW-Authenticate."""
    with pytest.raises(OAuthError) as info:
        read_basic(header)
    _assert_invalid_client_basic(info.value)


def test_rfc6749_s2_3_1_basic_value_surrounding_whitespace_tolerated() -> None:
    """RFC 7235 §2.1: optional whitespace around the credentials is not part of them."""
    header = basic("id", "secret").replace("Basic ", "Basic   ") + "  "
    assert read_basic(header) == ("id", "secret")


# -- presented_credentials ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "authorization", "expected"),
    [
        ({}, basic("c1", "s1"), Presented("client_secret_basic", "c1", "s1")),
        ({"client_id": "c1"}, basic("c1", "s1"), Presented("client_secret_basic", "c1", "s1")),
        (
            {"client_id": "a:b"},
            basic("a:b", "s"),
            Presented("client_secret_basic", "a:b", "s"),
        ),
        (
            {"client_id": "c1", "client_secret": "s1"},
            None,
            Presented("client_secret_post", "c1", "s1"),
        ),
        ({"client_id": "c1"}, None, Presented("none", "c1", None)),
        (
            {"client_id": "c1", "client_secret": "s1"},
            "Bearer some.jwt.token",
            Presented("client_secret_post", "c1", "s1"),
        ),
        ({"client_id": "c1", "grant_type": "x"}, "", Presented("none", "c1", None)),
    ],
)
def test_rfc6749_s2_3_which_method_was_used(
    params: dict[str, str], authorization: str | None, expected: Presented
) -> None:
    """RFC 6749 §2.3.1 (Basic, body), §2.1/§3.2.1 (public: client_id only)."""
    assert presented_credentials(params, authorization) == expected


@pytest.mark.parametrize(
    "params", [{"client_secret": "s1"}, {"client_id": "c1", "client_secret": "s1"}]
)
def test_rfc6749_s2_3_two_methods_at_once_is_invalid_request(params: dict[str, str]) -> None:
    """RFC 6749 §2.3: the client MUST NOT use more than one authentication method per request."""
    with pytest.raises(OAuthError) as info:
        presented_credentials(params, basic("c1", "s1"))
    assert info.value.error == "invalid_request"
    assert info.value.status == 400


@pytest.mark.parametrize("body_id", ["c2", "C1", "c1 ", "a"])
def test_rfc6749_s3_2_1_client_id_mismatch_between_basic_and_body(body_id: str) -> None:
    """RFC 6749 §3.2.1: a body client_id that names another client fails authentication."""
    with pytest.raises(OAuthError) as info:
        presented_credentials({"client_id": body_id}, basic("c1", "s1"))
    _assert_invalid_client_basic(info.value)


@pytest.mark.parametrize(
    ("params", "authorization"),
    [({}, None), ({}, ""), ({"grant_type": "client_credentials"}, "Bearer x")],
)
def test_rfc6749_s3_2_1_no_credentials_is_invalid_client(
    params: dict[str, str], authorization: str | None
) -> None:
    """RFC 6749 §3.2.1, §5.2: a request identifying no client is invalid_client (401)."""
    with pytest.raises(OAuthError) as info:
        presented_credentials(params, authorization)
    assert info.value.error == "invalid_client"
    assert info.value.status == 401
    # No Authorization header was tried, so no Basic challenge is required.
    assert "WWW-Authenticate" not in info.value.headers


def test_rfc6749_s5_2_malformed_basic_wins_over_body_credentials() -> None:
    """RFC 6749 §5.2: a broken Authorization header is a 401 even with body credentials."""
    with pytest.raises(OAuthError) as info:
        presented_credentials({"client_id": "c1", "client_secret": "s1"}, "Basic ***")
    _assert_invalid_client_basic(info.value)


@pytest.mark.parametrize("value", ["\u00e9", "\u00ff\u00fe", "Zm9v\u00e9OmJhcg==", "\u0100"])
def test_rfc6749_s5_2_non_ascii_basic_is_invalid_client(value: str) -> None:
    """RFC 6749 §5.2: header bytes outside ASCII (decoded as latin-1) are malformed Basic
    credentials, a 401, not an exception of base64's."""
    with pytest.raises(OAuthError) as info:
        read_basic(f"Basic {value}")
    _assert_invalid_client_basic(info.value)


@given(st.binary(max_size=64))
def test_rfc6749_s5_2_any_header_bytes_are_credentials_or_invalid_client(raw: bytes) -> None:
    """RFC 6749 §2.3.1, §5.2: whatever bytes follow "Basic ", the answer is credentials or
    invalid_client (as the server decodes headers: latin-1)."""
    try:
        read_basic("Basic " + raw.decode("latin-1"))
    except OAuthError as exc:
        _assert_invalid_client_basic(exc)
