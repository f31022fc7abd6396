"""At-rest sealing of secrets and opaque token generation.

Sealing protects signing keys at rest (RFC 9700 §4.15's concern for key material; RFC 7517
§9.2 on keeping private keys confidential). Opaque tokens follow RFC 6749 §10.10 (credentials
MUST be unguessable, probability of guessing ≤ 2^-128; we use 256 bits) and RFC 6749 §10.3/
§10.4 (tokens and refresh tokens kept confidential, so only digests are stored).
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.crypto import tokens
from ostiary.crypto.sealing import Sealer, UnsealError, derive_key

ROOT = b"r" * 32
OTHER_ROOT = b"R" * 32
NONCE_END = 13  # version byte + 12-byte nonce


@given(plaintext=st.binary(max_size=2048), purpose=st.text(min_size=1, max_size=20))
def test_rfc7517_s9_2_seal_unseal_round_trip(plaintext: bytes, purpose: str) -> None:
    """RFC 7517 §9.2: private keys are kept confidential; sealing is reversible by the owner."""
    sealer = Sealer(ROOT, purpose)
    sealed = sealer.seal(plaintext)
    assert sealer.unseal(sealed) == plaintext
    assert Sealer(ROOT, purpose).unseal(sealed) == plaintext


def test_rfc7517_s9_2_sealed_form_hides_plaintext_and_is_randomised() -> None:
    """RFC 7517 §9.2: the stored form reveals nothing; a fresh nonce each time (AES-GCM)."""
    sealer = Sealer(ROOT, "signing-keys")
    plaintext = b'{"kty":"EC","d":"very-private-member"}'
    first, second = sealer.seal(plaintext), sealer.seal(plaintext)
    assert first != second
    assert first[1:NONCE_END] != second[1:NONCE_END]
    for sealed in (first, second):
        assert b"very-private-member" not in sealed
        assert sealed[:1] == b"\x01"
        assert len(sealed) == NONCE_END + len(plaintext) + 16


@pytest.mark.parametrize(
    ("root", "purpose"),
    [
        (OTHER_ROOT, "signing-keys"),
        (ROOT, "upstream-tokens"),
        (ROOT, "signing-keys "),
        (ROOT, "Signing-keys"),
        (ROOT + b"x", "signing-keys"),
    ],
)
def test_rfc7517_s9_2_other_root_secret_or_purpose_cannot_unseal(root: bytes, purpose: str) -> None:
    """RFC 7517 §9.2: only the holder of the same root secret, for the same use, can unseal."""
    sealed = Sealer(ROOT, "signing-keys").seal(b"private")
    with pytest.raises(UnsealError):
        Sealer(root, purpose).unseal(sealed)


def test_derive_key_separates_purposes_and_roots() -> None:
    """HKDF (RFC 5869 §3.2): distinct info strings and roots give independent 256-bit keys."""
    keys = {
        derive_key(ROOT, "signing-keys"),
        derive_key(ROOT, "upstream-tokens"),
        derive_key(OTHER_ROOT, "signing-keys"),
    }
    assert len(keys) == 3
    assert all(len(k) == 32 for k in keys)
    assert derive_key(ROOT, "signing-keys") == derive_key(ROOT, "signing-keys")


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("where", ["version", "nonce", "ciphertext", "tag"])
def test_rfc5116_tampered_sealed_data_is_rejected(where: str) -> None:
    """RFC 5116 §2.2 (AEAD): any change to nonce, ciphertext or tag fails authentication."""
    sealer = Sealer(ROOT, "signing-keys")
    sealed = sealer.seal(b"private key material")
    index = {"version": 0, "nonce": 5, "ciphertext": NONCE_END + 3, "tag": len(sealed) - 1}[where]
    with pytest.raises(UnsealError):
        sealer.unseal(_flip(sealed, index))


@given(data=st.data())
def test_rfc5116_any_single_bit_flip_is_rejected(data: st.DataObject) -> None:
    """RFC 5116 §2.2 (AEAD): every bit of the sealed form is authenticated."""
    sealer = Sealer(ROOT, "p")
    sealed = sealer.seal(data.draw(st.binary(max_size=64)))
    index = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = sealed[:index] + bytes([sealed[index] ^ (1 << bit)]) + sealed[index + 1 :]
    with pytest.raises(UnsealError):
        sealer.unseal(tampered)


@pytest.mark.parametrize("extra", [b"\x00", b"trailing"])
def test_rfc5116_appended_bytes_are_rejected(extra: bytes) -> None:
    """RFC 5116 §2.2: the tag covers the whole ciphertext; extra bytes break it."""
    sealer = Sealer(ROOT, "p")
    with pytest.raises(UnsealError):
        sealer.unseal(sealer.seal(b"secret") + extra)


@pytest.mark.parametrize("length", [0, *range(9, 13 + 16)])
def test_rfc5116_truncated_sealed_data_is_unseal_error(length: int) -> None:
    """RFC 5116 §2.2: a cut-short value cannot be authenticated and raises UnsealError."""
    sealer = Sealer(ROOT, "p")
    with pytest.raises(UnsealError):
        sealer.unseal(sealer.seal(b"secret")[:length])


@pytest.mark.parametrize("length", range(1, 9))
def test_rfc5116_very_short_sealed_data_is_unseal_error(length: int) -> None:
    """RFC 5116 §2.2: even a value shorter than a nonce is an UnsealError, nothing else."""
    sealer = Sealer(ROOT, "p")
    with pytest.raises(UnsealError):
        sealer.unseal(sealer.seal(b"secret")[:length])


# -- opaque secrets -------------------------------------------------------------------------

PREFIXES = [
    tokens.CLIENT_SECRET_PREFIX,
    tokens.REFRESH_TOKEN_PREFIX,
    tokens.AUTHORIZATION_CODE_PREFIX,
    tokens.SESSION_PREFIX,
]


def test_prefixes_are_distinct_and_scanner_friendly() -> None:
    """Distinct ``ost_xx_`` prefixes let secret scanners tell token kinds apart."""
    assert len(set(PREFIXES)) == len(PREFIXES)
    assert all(re.fullmatch(r"ost_[a-z]{2}_", p) for p in PREFIXES)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_rfc6749_s10_10_new_secret_has_prefix_and_256_random_bits(prefix: str) -> None:
    """RFC 6749 §10.10: unguessable; 32 random bytes = 43 base64url characters after prefix."""
    secret = tokens.new_secret(prefix)
    assert secret.startswith(prefix)
    body = secret[len(prefix) :]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", body)
    assert len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) >= 32


def test_rfc6749_s10_10_new_secrets_do_not_repeat() -> None:
    """RFC 6749 §10.10: a fresh value every time."""
    batch = {tokens.new_secret(tokens.REFRESH_TOKEN_PREFIX) for _ in range(500)}
    assert len(batch) == 500


@given(secret=st.text(max_size=100))
def test_rfc6749_s10_4_digest_is_sha256_of_utf8(secret: str) -> None:
    """RFC 6749 §10.3/§10.4: only a SHA-256 digest of the token is stored."""
    assert tokens.digest(secret) == hashlib.sha256(secret.encode("utf-8")).digest()
    assert len(tokens.digest(secret)) == 32


def test_rfc6749_s10_4_digest_known_vector() -> None:
    """FIPS 180-4 example: SHA-256("abc")."""
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert tokens.digest("abc").hex() == expected


@pytest.mark.parametrize(
    ("presented", "stored", "expected"),
    [
        ("ost_cs_abc", tokens.digest("ost_cs_abc"), True),
        ("ost_cs_abd", tokens.digest("ost_cs_abc"), False),
        ("ost_cs_abc ", tokens.digest("ost_cs_abc"), False),
        ("", tokens.digest("ost_cs_abc"), False),
        ("", tokens.digest(""), True),
        ("ost_cs_abc", None, False),
        ("ost_cs_abc", b"", False),
        ("ost_cs_abc", tokens.digest("ost_cs_abc")[:16], False),
        ("ost_cs_abc", b"ost_cs_abc", False),
    ],
)
def test_rfc6749_s2_3_1_matches_compares_digest(
    presented: str, stored: bytes | None, expected: bool
) -> None:
    """RFC 6749 §2.3.1: the secret is checked against its stored digest; no digest, no match."""
    assert tokens.matches(presented, stored) is expected


@given(secret=st.text(max_size=60), other=st.text(max_size=60))
def test_rfc6749_s2_3_1_matches_only_the_same_secret(secret: str, other: str) -> None:
    """RFC 6749 §2.3.1: a secret matches its own digest and no other secret's."""
    stored = tokens.digest(secret)
    assert tokens.matches(secret, stored) is True
    assert tokens.matches(other, stored) is (other == secret)
