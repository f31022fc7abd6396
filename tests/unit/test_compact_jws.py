"""keys.compact: every token it signs is a valid RFC 7515 compact JWS for joserfc."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OKPKey, RSAKey

from ostiary.keys.algorithms import generate
from ostiary.keys.compact import CompactSigner, b64url, signer_for, split, verifier_for

KEYS = {alg: generate(alg) for alg in ("ES256", "RS256", "PS256", "EdDSA")}


def decode(token: str, alg: str):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.decode(token, KEYS[alg], algorithms=[alg])


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_rfc7515_compact_token_verifies_with_joserfc(alg: str) -> None:
    sign = signer_for(alg, KEYS[alg].private_key)
    assert sign is not None
    token = CompactSigner(alg, "kid-1", sign)({"sub": "s", "iat": 1, "aud": ["a", "b"]}, "at+jwt")
    decoded = decode(token, alg)
    assert decoded.header == {"alg": alg, "typ": "at+jwt", "kid": "kid-1"}
    assert decoded.claims == {"sub": "s", "iat": 1, "aud": ["a", "b"]}


def test_rfc7518_3_4_es256_signature_is_raw_r_s_of_64_bytes() -> None:
    sign = signer_for("ES256", KEYS["ES256"].private_key)
    assert sign is not None
    token = CompactSigner("ES256", "k", sign)({"x": 1}, "JWT")
    signature = token.rsplit(".", 1)[1]
    assert len(signature) == len(b64url(bytes(64)))


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("ES256", ECKey.generate_key("P-384", private=True)),  # wrong curve
        ("RS256", ECKey.generate_key("P-256", private=True)),  # wrong key type
        ("EdDSA", RSAKey.generate_key(2048, private=True)),
        ("HS256", OKPKey.generate_key("Ed25519", private=True)),  # never a MAC
        ("none", ECKey.generate_key("P-256", private=True)),
    ],
)
def test_mismatched_key_and_algorithm_are_not_signed(alg: str, key: object) -> None:
    private = key.private_key  # type: ignore[attr-defined]
    if alg == "ES256":
        with pytest.raises(ValueError, match="P-256"):
            signer_for(alg, private)
    else:
        assert signer_for(alg, private) is None


claims = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(
        st.text(max_size=40),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.booleans(),
        st.lists(st.text(max_size=10), max_size=4),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(claims, st.sampled_from(["at+jwt", "JWT", "logout+jwt"]))
def test_any_claims_round_trip_through_joserfc(body: dict[str, object], typ: str) -> None:
    sign = signer_for("ES256", KEYS["ES256"].private_key)
    assert sign is not None
    token = CompactSigner("ES256", "k", sign)(body, typ)
    decoded = decode(token, "ES256")
    assert decoded.claims == body
    assert decoded.header["typ"] == typ


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_rfc7515_5_2_signature_check_accepts_ours_and_refuses_tampering(alg: str) -> None:
    sign = signer_for(alg, KEYS[alg].private_key)
    check = verifier_for(alg, KEYS[alg].public_key)
    assert sign is not None and check is not None
    token = CompactSigner(alg, "k", sign)({"sub": "alice", "exp": 2}, "at+jwt")
    parts = split(token)
    assert parts.header == {"alg": alg, "typ": "at+jwt", "kid": "k"}
    assert check(parts.signing_input, parts.signature)
    forged = token.split(".")
    forged[1] = b64url(b'{"sub":"mallory","exp":2}').decode()
    forged_parts = split(".".join(forged))
    assert not check(forged_parts.signing_input, forged_parts.signature)
    assert not check(parts.signing_input, parts.signature[:-1] + bytes([parts.signature[-1] ^ 1]))


def test_a_token_of_another_key_is_refused() -> None:
    other = generate("ES256")
    sign = signer_for("ES256", other.private_key)
    check = verifier_for("ES256", KEYS["ES256"].public_key)
    assert sign is not None and check is not None
    parts = split(CompactSigner("ES256", "k", sign)({"a": 1}, "JWT"))
    assert not check(parts.signing_input, parts.signature)


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJFUzI1NiJ9=.e30.AAAA",  # RFC 7515 §2: no padding
        "eyJhbGciOiJFUzI1NiJ9.e3+0.AAAA",  # not the URL-safe alphabet
        "W10.e30.AAAA",  # header is a JSON array
        "bm90IGpzb24.e30.AAAA",  # header is not JSON
        "ey\u00e9.e30.AAAA",  # not ASCII
    ],
)
def test_malformed_compact_serialisations_are_errors(token: str) -> None:
    with pytest.raises(ValueError):
        split(token)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_split_never_fails_other_than_with_value_error(token: str) -> None:
    try:
        parts = split(token)
    except ValueError:
        return
    assert isinstance(parts.header, dict)
    assert parts.signing_input == token.rsplit(".", 1)[0].encode()
