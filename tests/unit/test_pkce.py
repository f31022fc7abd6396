"""Proof Key for Code Exchange, S256 only (RFC 7636)."""

from __future__ import annotations

import base64
import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.oauth import pkce

# RFC 7636 Appendix B.
APPENDIX_B_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
APPENDIX_B_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

# RFC 7636 §4.1: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
UNRESERVED = string.ascii_letters + string.digits + "-._~"
BASE64URL = string.ascii_letters + string.digits + "-_"

verifiers = st.text(alphabet=UNRESERVED, min_size=43, max_size=128)


def test_rfc7636_appendix_b_s256_vector() -> None:
    """RFC 7636 Appendix B: the worked S256 example."""
    assert pkce.s256(APPENDIX_B_VERIFIER) == APPENDIX_B_CHALLENGE
    assert pkce.verify(APPENDIX_B_VERIFIER, APPENDIX_B_CHALLENGE) is True
    assert pkce.is_valid_verifier(APPENDIX_B_VERIFIER)
    assert pkce.is_valid_challenge(APPENDIX_B_CHALLENGE)


def test_rfc7636_s4_2_only_s256_is_supported() -> None:
    """RFC 7636 §4.2, RFC 9700 §2.1.1: "plain" is not offered."""
    assert pkce.SUPPORTED_METHODS == ("S256",)


@given(verifier=verifiers)
def test_rfc7636_s4_1_any_unreserved_43_to_128_is_a_verifier(verifier: str) -> None:
    """RFC 7636 §4.1: code-verifier = 43*128unreserved."""
    assert pkce.is_valid_verifier(verifier)


@given(verifier=verifiers)
def test_rfc7636_s4_2_s256_is_base64url_sha256_and_verifies(verifier: str) -> None:
    """RFC 7636 §4.2/§4.6: challenge = BASE64URL(SHA256(ASCII(verifier))); it verifies."""
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    challenge = pkce.s256(verifier)
    assert challenge == expected.decode()
    assert len(challenge) == 43
    assert set(challenge) <= set(BASE64URL)
    assert pkce.is_valid_challenge(challenge)
    assert pkce.verify(verifier, challenge) is True


@pytest.mark.parametrize("length", [0, 1, 42, 129, 200])
def test_rfc7636_s4_1_verifier_length_bounds(length: int) -> None:
    """RFC 7636 §4.1: fewer than 43 or more than 128 characters is not a verifier."""
    verifier = "a" * length
    assert not pkce.is_valid_verifier(verifier)
    assert pkce.verify(verifier, pkce.s256(verifier)) is False


@pytest.mark.parametrize("length", [43, 44, 127, 128])
def test_rfc7636_s4_1_verifier_length_edges_accepted(length: int) -> None:
    """RFC 7636 §4.1: exactly 43 and exactly 128 characters are allowed."""
    verifier = "a" * length
    assert pkce.is_valid_verifier(verifier)
    assert pkce.verify(verifier, pkce.s256(verifier)) is True


@given(
    verifier=verifiers,
    bad=st.characters(exclude_characters=UNRESERVED, codec="ascii"),
    data=st.data(),
)
def test_rfc7636_s4_1_character_outside_unreserved_is_not_a_verifier(
    verifier: str, bad: str, data: st.DataObject
) -> None:
    """RFC 7636 §4.1: any ASCII character outside unreserved makes the verifier invalid."""
    index = data.draw(st.integers(0, len(verifier) - 1))
    broken = verifier[:index] + bad + verifier[index + 1 :]
    assert not pkce.is_valid_verifier(broken)
    assert pkce.verify(broken, pkce.s256(broken)) is False


@pytest.mark.parametrize(
    "verifier",
    [
        APPENDIX_B_VERIFIER[:-1] + "\u00e9",
        APPENDIX_B_VERIFIER + "\n",
        "\n" + APPENDIX_B_VERIFIER,
        APPENDIX_B_VERIFIER.replace("-", "+"),
        APPENDIX_B_VERIFIER.replace("_", "/"),
        APPENDIX_B_VERIFIER + "=",
        " " * 43,
    ],
)
def test_rfc7636_s4_6_malformed_verifier_is_false_not_error(verifier: str) -> None:
    """RFC 7636 §4.6: a malformed verifier simply fails verification."""
    assert pkce.verify(verifier, APPENDIX_B_CHALLENGE) is False


@given(verifier=verifiers, other=verifiers)
def test_rfc7636_s4_6_wrong_verifier_is_false(verifier: str, other: str) -> None:
    """RFC 7636 §4.6: a different verifier does not match the challenge."""
    assert pkce.verify(other, pkce.s256(verifier)) is (other == verifier)


@pytest.mark.parametrize(
    "challenge",
    [
        "",
        APPENDIX_B_CHALLENGE[:-1],
        APPENDIX_B_CHALLENGE + "=",
        APPENDIX_B_CHALLENGE.lower(),
        APPENDIX_B_VERIFIER,  # "plain": the verifier itself is not the S256 challenge
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
    ],
)
def test_rfc7636_s4_6_wrong_challenge_is_false(challenge: str) -> None:
    """RFC 7636 §4.6: the verifier only matches BASE64URL(SHA256(verifier)) exactly."""
    assert pkce.verify(APPENDIX_B_VERIFIER, challenge) is False


@pytest.mark.parametrize(
    ("challenge", "valid"),
    [
        (APPENDIX_B_CHALLENGE, True),
        ("A" * 43, True),
        ("-" * 43, True),
        ("_" * 43, True),
        ("A" * 42, False),
        ("A" * 44, False),
        (APPENDIX_B_CHALLENGE[:-1] + "=", False),
        (APPENDIX_B_CHALLENGE[:-1] + "+", False),
        (APPENDIX_B_CHALLENGE[:-1] + "/", False),
        (APPENDIX_B_CHALLENGE[:-1] + ".", False),
        (APPENDIX_B_CHALLENGE[:-1] + "~", False),
        (APPENDIX_B_CHALLENGE + "\n", False),
        ("", False),
    ],
)
def test_rfc7636_s4_2_s256_challenge_format(challenge: str, valid: bool) -> None:
    """RFC 7636 §4.2: an S256 challenge is 43 base64url characters, unpadded."""
    assert pkce.is_valid_challenge(challenge) is valid


@pytest.mark.parametrize(
    "challenge",
    ["\u00e9" * 43, APPENDIX_B_CHALLENGE[:-1] + "\u00e9"],
    ids=["all-non-ascii", "last-non-ascii"],
)
def test_rfc7636_s4_6_non_ascii_challenge_is_false_not_error(challenge: str) -> None:
    """RFC 7636 §4.6: a malformed challenge fails verification; it does not raise."""
    assert pkce.verify(APPENDIX_B_VERIFIER, challenge) is False
