"""RFC 9449 §7 in the resource kit, without HTTP: which scheme a token may come with
(its cnf.jkt binding), and the challenges of each refusal (§7.1, §7.2)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from ostiary.resource.authenticate import authenticate, credentials
from ostiary.resource.claims import Claims
from ostiary.resource.dpop import DPoPVerifier, access_token_hash
from ostiary.resource.dpop_nonce import TimedNonces
from ostiary.resource.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    ResourceError,
    UseDPoPNonce,
)

NOW = 1_700_000_000
URL = "https://api.example.com/orders"
KEY = ECKey.generate_key("P-256")
ALGS = "ES256 ES384 ES512 PS256 RS256 EdDSA Ed25519"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def proof(token: str, key: ECKey = KEY, **changes: Any) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": f"j-{changes}", "htm": "GET", "htu": URL, "iat": NOW}
    claims |= {"ath": access_token_hash(token)} | changes
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = JWSRegistry.algorithms["ES256"].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


# Tokens the stand-in verifier knows: one bound to KEY, one not bound, one mTLS-bound.
TOKENS: dict[str, dict[str, Any]] = {
    "bound": {"sub": "u", "scope": "read", "cnf": {"jkt": KEY.thumbprint()}},
    "plain": {"sub": "u", "scope": "read"},
    "mtls": {"sub": "u", "cnf": {"x5t#S256": "abc"}},
    "jwk": {"sub": "u", "cnf": {"jwk": {"kty": "OKP"}}},
}


async def verify(token: str) -> Claims:
    if token not in TOKENS:
        raise InvalidToken("unknown token")
    return Claims.of(TOKENS[token], "jwt")


def run(
    authorization: str | None,
    proofs: tuple[str, ...] = (),
    dpop: DPoPVerifier | None = None,
    method: str = "GET",
) -> Claims:
    checker = dpop if dpop is not None else DPoPVerifier(clock=lambda: NOW)
    return asyncio.run(authenticate(verify, checker, authorization, proofs, method, lambda: URL))


def refusal(*args: Any, **kwargs: Any) -> ResourceError:
    with pytest.raises(ResourceError) as caught:
        run(*args, **kwargs)
    return caught.value


def test_rfc9449_7_1_a_bound_token_with_its_proof_is_accepted() -> None:
    claims = run("DPoP bound", (proof("bound"),))
    assert claims.dpop is not None and claims.dpop.jkt == claims.jkt == KEY.thumbprint()
    assert claims.scheme == "dpop"
    # The scheme name is case-insensitive (RFC 9110 §11.1).
    assert run("dpop bound", (proof("bound", jti="again"),)).scheme == "dpop"


def test_rfc9449_7_2_a_bound_token_as_bearer_is_invalid_token() -> None:
    error = refusal("Bearer bound")
    assert isinstance(error, InvalidToken) and error.scheme == "bearer"
    assert error.challenge("api", ALGS) == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="the token is DPoP-bound: send it with the DPoP scheme and a proof", '
        f'DPoP realm="api", algs="{ALGS}"'
    )


def test_a_bound_token_as_bearer_is_refused_even_when_dpop_is_off() -> None:
    with pytest.raises(InvalidToken, match="DPoP-bound"):
        asyncio.run(authenticate(verify, None, "Bearer bound", (), "GET", URL))
    assert asyncio.run(authenticate(verify, None, "Bearer plain", (), "GET", URL)).sub == "u"


def test_rfc7800_a_token_bound_another_way_is_not_a_bearer_token() -> None:
    assert "method this API does not check" in refusal("Bearer jwk").description
    # RFC 8705 §3: a certificate-bound one is taken only with its certificate.
    assert "certificate-bound" in refusal("Bearer mtls").description


def test_rfc9449_7_1_an_unbound_token_with_the_dpop_scheme_is_refused() -> None:
    error = refusal("DPoP plain", (proof("plain"),))
    assert isinstance(error, InvalidToken) and error.scheme == "dpop"
    assert error.challenge("api", ALGS).startswith('DPoP realm="api", error="invalid_token"')


@pytest.mark.parametrize(
    ("proofs", "reason"),
    [
        ((), "required"),
        ((proof("bound"), proof("bound", jti="two")), "more than one"),
        ((proof("plain"),), "ath"),
        ((proof("bound", htm="POST"),), "htm"),
        ((proof("bound", htu="https://api.example.com/other"),), "htu"),
    ],
)
def test_rfc9449_7_1_proof_problems_are_invalid_dpop_proof(
    proofs: tuple[str, ...], reason: str
) -> None:
    error = refusal("DPoP bound", proofs)
    assert isinstance(error, InvalidDPoPProof) and reason in error.description
    assert error.status == 401
    assert error.challenge("api", ALGS).startswith(
        'DPoP realm="api", error="invalid_dpop_proof", error_description="'
    )
    assert error.challenge("api", ALGS).endswith(f'algs="{ALGS}", Bearer realm="api"')


def test_rfc9449_6_a_proof_by_another_key_is_invalid_token() -> None:
    other = ECKey.generate_key("P-256")
    error = refusal("DPoP bound", (proof("bound", key=other),))
    assert isinstance(error, InvalidToken) and "token's key" in error.description


def test_rfc9449_9_use_dpop_nonce_carries_the_nonce_to_use() -> None:
    nonces = TimedNonces(b"n" * 32, clock=lambda: NOW)
    checker = DPoPVerifier(nonces=nonces, clock=lambda: NOW)
    error = refusal("DPoP bound", (proof("bound"),), dpop=checker)
    assert isinstance(error, UseDPoPNonce) and error.dpop_nonce == nonces.current()
    assert ("DPoP-Nonce", nonces.current()) in error.headers("api", ALGS)
    assert error.challenge("api", ALGS).startswith('DPoP realm="api", error="use_dpop_nonce"')
    ok = run("DPoP bound", (proof("bound", nonce=nonces.current()),), dpop=checker)
    assert ok.dpop is not None and ok.dpop.nonce == nonces.current()


def test_rfc9449_7_2_no_token_gets_both_challenges_without_an_error() -> None:
    error = refusal(None)
    assert isinstance(error, MissingToken) and error.body() == {}
    assert error.challenge("api", ALGS) == f'Bearer realm="api", DPoP realm="api", algs="{ALGS}"'
    # Another scheme is no credentials either (RFC 6750 §3.1).
    assert isinstance(refusal("Basic dXNlcjpwYXNz"), MissingToken)


def test_without_dpop_the_challenges_are_rfc6750_alone() -> None:
    assert MissingToken().challenge("api") == 'Bearer realm="api"'
    assert InvalidToken("bad").challenge("api") == (
        'Bearer realm="api", error="invalid_token", error_description="bad"'
    )


@pytest.mark.parametrize("header", ["DPoP", "DPoP   ", "DPoP a b", "DPoP caf\u00e9", 'DPoP "x"'])
def test_rfc9449_7_1_malformed_dpop_credentials_are_invalid_request(header: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        credentials(header, dpop=True)
    assert caught.value.scheme == "dpop" and caught.value.status == 400


def test_the_dpop_scheme_is_unsupported_when_dpop_is_off() -> None:
    with pytest.raises(MissingToken):
        credentials("DPoP abc", dpop=False)
    assert credentials("Bearer abc", dpop=True) == ("bearer", "abc")
    assert credentials("DPoP abc", dpop=True) == ("dpop", "abc")


def test_insufficient_scope_goes_in_the_challenge_of_the_scheme_used() -> None:
    claims = run("DPoP bound", (proof("bound", jti="scope"),))
    with pytest.raises(InsufficientScope) as caught:
        claims.require(["write"])
    assert caught.value.challenge("api", ALGS).startswith(
        'DPoP realm="api", error="insufficient_scope", '
        'error_description="the token lacks the required scope", scope="write", algs='
    )
    with pytest.raises(InsufficientScope, match="role"):
        claims.require(roles=["admin"])
