"""at_hash / c_hash (OIDC Core §3.1.3.6, §3.3.2.11) and the Appendix A example values."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.keys.algorithms import SUPPORTED
from ostiary.tokens.id_token import token_hash

# The hash each JWS algorithm uses for token hashes: JWA (RFC 7518 §3) for the SHA-2 based
# ones; SHA-512 for EdDSA with Ed25519 (OIDC Core 1.0 errata set 2, §3.1.3.6).
HASH_FOR_ALG: dict[str, Callable[[bytes], Any]] = {
    "RS256": hashlib.sha256,
    "ES256": hashlib.sha256,
    "PS256": hashlib.sha256,
    "EdDSA": hashlib.sha512,
}
LENGTH_FOR_ALG = {"RS256": 22, "ES256": 22, "PS256": 22, "EdDSA": 43}
BASE64URL_NO_PAD = re.compile(r"[A-Za-z0-9_-]+")
# OIDC Core Appendix A.3 (access token with RS256) and A.4 (code with RS256).
APPENDIX_A3_ACCESS_TOKEN = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
APPENDIX_A3_AT_HASH = "77QmUPtjPfzWtF2AnpK9RQ"
APPENDIX_A4_CODE = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
APPENDIX_A4_C_HASH = "LDktKdoQak3Pk0cnXxCltA"


def _reference(value: str, alg: str) -> str:
    digest = HASH_FOR_ALG[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(APPENDIX_A3_ACCESS_TOKEN, APPENDIX_A3_AT_HASH, id="A.3-at_hash"),
        pytest.param(APPENDIX_A4_CODE, APPENDIX_A4_C_HASH, id="A.4-c_hash"),
    ],
)
def test_oidc_core_appendix_a_example_token_hashes(value: str, expected: str) -> None:
    """Appendix A.3 / A.4: the at_hash and c_hash of the RS256 examples."""
    assert token_hash(value, "RS256") == expected


@pytest.mark.parametrize("alg", ["ES256", "PS256"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [(APPENDIX_A3_ACCESS_TOKEN, APPENDIX_A3_AT_HASH), (APPENDIX_A4_CODE, APPENDIX_A4_C_HASH)],
)
def test_oidc_core_3_1_3_6_other_sha256_algs_hash_like_rs256(
    alg: str, value: str, expected: str
) -> None:
    """§3.1.3.6: the hash is the alg's (SHA-256 for ES256 and PS256 too), left half."""
    assert token_hash(value, alg) == expected


@pytest.mark.parametrize("value", [APPENDIX_A3_ACCESS_TOKEN, APPENDIX_A4_CODE])
def test_oidc_core_errata_3_1_3_6_eddsa_uses_the_left_half_of_sha512(value: str) -> None:
    """Errata set 2, §3.1.3.6: Ed25519 hashes with SHA-512; the left 256 bits are kept."""
    got = token_hash(value, "EdDSA")
    digest = hashlib.sha512(value.encode("ascii")).digest()
    assert base64.urlsafe_b64decode(got + "=") == digest[:32]
    assert got != token_hash(value, "RS256")


def test_oidc_core_3_1_3_6_every_signing_alg_has_a_defined_hash() -> None:
    """Every algorithm an ID token may be signed with has a known hash: a new algorithm
    must be added here, not fall back silently to some default."""
    assert set(SUPPORTED) == set(HASH_FOR_ALG)


@pytest.mark.parametrize("alg", sorted(HASH_FOR_ALG))
@pytest.mark.parametrize(
    "value",
    ["", "a", APPENDIX_A3_ACCESS_TOKEN, "ost_ac_" + "x" * 43, "z" * 1000],
)
def test_oidc_core_3_1_3_6_hash_is_base64url_unpadded_left_half(alg: str, value: str) -> None:
    got = token_hash(value, alg)
    assert got == _reference(value, alg)
    assert len(got) == LENGTH_FOR_ALG[alg]
    assert BASE64URL_NO_PAD.fullmatch(got)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200), st.sampled_from(SUPPORTED))
def test_oidc_core_3_1_3_6_hash_matches_reference_for_any_ascii_value(value: str, alg: str) -> None:
    got = token_hash(value, alg)
    assert got == _reference(value, alg)
    assert len(got) == LENGTH_FOR_ALG[alg]
