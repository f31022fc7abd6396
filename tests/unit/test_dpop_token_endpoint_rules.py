"""The authorization server's side of DPoP (``oauth.dpop``): server nonces every node
accepts (RFC 9449 §8), the replay guard over the shared used-identifier rows (§11.1), and
dpop_jkt's form (§10)."""

from __future__ import annotations

import asyncio

import pytest

from ostiary.errors import OAuthError
from ostiary.oauth import dpop
from ostiary.settings import Settings
from ostiary.storage.memory.store import MemoryStore
from tests.e2e.dpop_client import DPoPClient

URL = "https://op.example.com/token"


def settings(**security: object) -> Settings:
    return Settings(
        issuer="https://op.example.com",
        secret_key="k" * 43,
        client_security=security,  # type: ignore[arg-type]
    )


def test_rfc9449_8_with_nonces_on_a_proof_without_one_gets_use_dpop_nonce() -> None:
    store = MemoryStore()
    checker = dpop.verifier(settings(dpop_nonce=True), store.used_jtis)
    client = DPoPClient()
    with pytest.raises(OAuthError) as refused:
        asyncio.run(dpop.request_proof(checker, [client.proof("POST", URL)], URL))
    assert refused.value.error == "use_dpop_nonce" and refused.value.status == 400
    nonce = refused.value.headers["DPoP-Nonce"]
    # Another node (same root secret) hands out and accepts the same nonces.
    other = dpop.verifier(settings(dpop_nonce=True), store.used_jtis)
    proof = asyncio.run(dpop.request_proof(other, [client.proof("POST", URL, nonce=nonce)], URL))
    assert proof is not None and proof.jkt == client.jkt


def test_rfc9449_11_1_a_proof_replayed_to_another_node_is_refused() -> None:
    store = MemoryStore()
    first, second = (dpop.verifier(settings(), store.used_jtis) for _ in range(2))
    proof = DPoPClient().proof("POST", URL)
    assert asyncio.run(dpop.request_proof(first, [proof], URL)) is not None
    with pytest.raises(OAuthError) as refused:
        asyncio.run(dpop.request_proof(second, [proof], URL))
    assert refused.value.error == "invalid_dpop_proof"


def test_no_dpop_header_is_no_proof() -> None:
    checker = dpop.verifier(settings(), MemoryStore().used_jtis)
    assert asyncio.run(dpop.request_proof(checker, [], URL)) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", True),
        ("short", False),
        ("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I=", False),
        ("0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I", False),
        ("é" * 43, False),
    ],
)
def test_rfc9449_10_dpop_jkt_is_a_base64url_sha256_thumbprint(value: str, ok: bool) -> None:
    assert dpop.is_jkt(value) is ok
