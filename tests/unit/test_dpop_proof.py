"""RFC 9449 §4.3: DPoP proof checking (ostiary.resource.dpop), every refusal with its error,
the RFC's own examples as fixtures, and the replay guard and server nonces it relies on."""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

from ostiary.resource.dpop import (
    DEFAULT_ALGORITHMS,
    INVALID_DPOP_PROOF,
    MAX_PROOF_LENGTH,
    USE_DPOP_NONCE,
    DPoPError,
    DPoPProof,
    DPoPVerifier,
    access_token_hash,
    jwk_thumbprint,
    one_proof,
)
from ostiary.resource.dpop_nonce import TimedNonces
from ostiary.resource.dpop_replay import MemoryReplayGuard, replay_key

# RFC 9449 §4.2: the example proof of a token request, and (§7.1) that of a request to a
# protected resource with the example access token; both signed by the example key,
# whose thumbprint is the cnf.jkt of §6.1.
RFC_TOKEN_REQUEST_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0"
    "VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10"
    "NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoi"
    "UE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ."
    "2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC_RESOURCE_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0"
    "VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10"
    "NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoi"
    "R0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6"
    "MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9."
    "2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
    "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
    "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
    "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

NOW = 1_700_000_000
URL = "https://api.example.com/orders"
TOKEN = "an-access-token"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(
    header: dict[str, Any], claims: dict[str, Any] | str, key: Any, alg: str | None = None
) -> str:
    """A compact JWS of exactly this header and these claims (or this payload text), signed
    with the header's alg (or ``alg``, to sign what the header would not let us)."""
    payload = claims if isinstance(claims, str) else json.dumps(claims)
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload.encode())}"
    alg = alg or (header["alg"] if isinstance(header.get("alg"), str) else "ES256")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags "none" and the "EdDSA" name
        signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64(signature)}"


KEY = ECKey.generate_key("P-256")
PUBLIC = KEY.as_dict(private=False)
HEADER = {"typ": "dpop+jwt", "alg": "ES256", "jwk": PUBLIC}


def claims(**changes: Any) -> dict[str, Any]:
    values = {
        "jti": "proof-1",
        "htm": "GET",
        "htu": URL,
        "iat": NOW,
        "ath": access_token_hash(TOKEN),
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def proof(header: dict[str, Any] | None = None, key: Any = KEY, **changes: Any) -> str:
    return sign(header or HEADER, claims(**changes), key)


def verifier(now: float = NOW, **options: Any) -> DPoPVerifier:
    return DPoPVerifier(clock=lambda: now, **options)


def check(value: str, **options: Any) -> DPoPProof:
    request = {"method": "GET", "url": URL, "access_token": TOKEN}
    request.update({k: options.pop(k) for k in ("method", "url", "access_token") if k in options})
    return verifier(**options).check(value, **request)


def refused(value: str, **options: Any) -> DPoPError:
    with pytest.raises(DPoPError) as caught:
        check(value, **options)
    return caught.value


# -- the RFC's examples ---------------------------------------------------------------------


def test_rfc9449_4_2_example_token_request_proof_verifies_at_its_time() -> None:
    checked = DPoPVerifier(clock=lambda: 1562262616 + 3).check(
        RFC_TOKEN_REQUEST_PROOF, method="POST", url="https://server.example.com/token"
    )
    assert (checked.jkt, checked.jti, checked.iat) == (RFC_JKT, "-BwC3ESc6acc2lTc", 1562262616)
    assert (checked.htm, checked.htu, checked.alg, checked.ath) == (
        "POST",
        "https://server.example.com/token",
        "ES256",
        None,
    )


def test_rfc9449_4_2_example_proof_is_stale_at_any_other_time() -> None:
    with pytest.raises(DPoPError, match="too old"):
        DPoPVerifier().check(
            RFC_TOKEN_REQUEST_PROOF, method="POST", url="https://server.example.com/token"
        )


def test_rfc9449_7_1_example_resource_proof_binds_the_example_token() -> None:
    resource = DPoPVerifier(clock=lambda: 1562262618)
    url = "https://resource.example.org/protectedresource"
    checked = resource.check(
        RFC_RESOURCE_PROOF, method="GET", url=url, access_token=RFC_ACCESS_TOKEN
    )
    assert (checked.jkt, checked.jti, checked.ath) == (RFC_JKT, "e1j3V_bKic8-LAEB", RFC_ATH)
    with pytest.raises(DPoPError, match="ath") as caught:
        resource.check(RFC_RESOURCE_PROOF, method="GET", url=url, access_token="another token")
    assert caught.value.error == INVALID_DPOP_PROOF


def test_rfc9449_4_2_ath_of_the_example_access_token() -> None:
    assert access_token_hash(RFC_ACCESS_TOKEN) == RFC_ATH


def test_rfc9449_6_1_jkt_of_the_example_key() -> None:
    assert jwk_thumbprint(RFC_JWK) == RFC_JKT


def test_rfc7638_3_1_thumbprint_of_the_example_key() -> None:
    key = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jwk_thumbprint(key) == RFC7638_THUMBPRINT


# -- a good proof, with every allowed algorithm ---------------------------------------------


def test_a_good_proof_gives_its_key_thumbprint_and_claims() -> None:
    checked = check(proof())
    assert checked == DPoPProof(
        jkt=KEY.thumbprint(),
        jti="proof-1",
        iat=NOW,
        htm="GET",
        htu=URL,
        alg="ES256",
        ath=access_token_hash(TOKEN),
    )


def _key(alg: str) -> Any:
    if alg.startswith("ES"):
        return ECKey.generate_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
    if alg in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519")
    return RSAKey.generate_key(2048)


@pytest.mark.parametrize("alg", DEFAULT_ALGORITHMS)
def test_rfc9449_4_3_5_every_default_algorithm_verifies(alg: str) -> None:
    key = _key(alg)
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    assert check(sign(header, claims(), key)).jkt == key.thumbprint()


def test_rfc7515_4_1_9_typ_with_the_application_prefix_is_the_same_type() -> None:
    check(proof({**HEADER, "typ": "application/dpop+jwt"}))


# -- every refusal --------------------------------------------------------------------------


def _hmac_proof() -> str:
    secret = OctKey.import_key(b"k" * 32)
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"k" * 32)}}
    return sign(header, claims(), secret)


def _unsigned_proof() -> str:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": PUBLIC}
    return sign(header, claims(), None)


def _rsa_1024_proof() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about the small key: that is the point
        small = RSAKey.import_key(rsa.generate_private_key(65537, 1024))
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": small.as_dict(private=False)}
    return sign(header, claims(), small)


def _ed448_proof() -> str:
    key = OKPKey.generate_key("Ed448")
    return sign(
        {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": key.as_dict(private=False)}, claims(), key
    )


def _other_key_in_header() -> str:
    other = ECKey.generate_key("P-256").as_dict(private=False)
    return proof({**HEADER, "jwk": other})


def _tampered() -> str:
    head, _, signature = proof().split(".")
    return ".".join([head, b64(json.dumps(claims(htm="POST")).encode()), signature])


# The same claim twice (RFC 7519 §4: refused, not read one way or the other).
DUPLICATED = '{"jti": "a", "htm": "POST", "htm": "GET", "htu": "URL", "iat": NOW}'.replace(
    "URL", URL
).replace("NOW", str(NOW))

REFUSALS: dict[str, tuple[Callable[[], str], str]] = {
    "typ JWT": (lambda: proof({**HEADER, "typ": "JWT"}), "typ"),
    "no typ": (lambda: proof({"alg": "ES256", "jwk": PUBLIC}), "typ"),
    "typ a list": (lambda: proof({**HEADER, "typ": ["dpop+jwt"]}), "typ"),
    "alg none": (_unsigned_proof, "alg"),
    "HMAC alg": (_hmac_proof, "alg"),
    "alg outside the allow-list": (lambda: proof({**HEADER, "alg": "ES256K"}), "alg"),
    "alg a list": (lambda: proof({**HEADER, "alg": ["ES256"]}), "alg"),
    "no jwk": (lambda: proof({"typ": "dpop+jwt", "alg": "ES256"}), "jwk"),
    "jwk a string": (lambda: proof({**HEADER, "jwk": "key"}), "jwk"),
    "private key in jwk": (
        lambda: proof({**HEADER, "jwk": KEY.as_dict(private=True)}),
        "private key",
    ),
    "RSA private member only": (lambda: proof({**HEADER, "jwk": {**PUBLIC, "p": "AQ"}}), "private"),
    "jwk of another curve": (
        lambda: proof({**HEADER, "jwk": ECKey.generate_key("P-384").as_dict(private=False)}),
        "does not fit",
    ),
    "jwk for encryption": (lambda: proof({**HEADER, "jwk": {**PUBLIC, "use": "enc"}}), "fit"),
    "RSA key under 2048 bits": (_rsa_1024_proof, "fit"),
    "EdDSA on Ed448": (_ed448_proof, "fit"),
    "RSA modulus over 4096 bits": (
        lambda: sign(
            {"typ": "dpop+jwt", "alg": "RS256", "jwk": {"kty": "RSA", "n": "A" * 700, "e": "AQAB"}},
            claims(),
            KEY,
            alg="ES256",
        ),
        "fit",
    ),
    "crit header": (lambda: proof({**HEADER, "crit": ["exp"], "exp": 1}), "crit"),
    "bad signature": (_other_key_in_header, "signature"),
    "tampered claims": (_tampered, "signature"),
    "not a JWT": (lambda: "abc.def", "well-formed"),
    "empty signature": (lambda: proof().rsplit(".", 1)[0] + ".", "signature"),
    "too long": (lambda: "a" * (MAX_PROOF_LENGTH + 1), "too long"),
    "claims not an object": (lambda: sign(HEADER, "[1, 2]", KEY), "well-formed"),
    "duplicate claim": (
        lambda: sign(HEADER, DUPLICATED, KEY),
        "well-formed",
    ),
    "no jti": (lambda: proof(jti=None), "jti"),
    "empty jti": (lambda: proof(jti=""), "jti"),
    "jti too long": (lambda: proof(jti="j" * 257), "jti"),
    "no htm": (lambda: proof(htm=None), "htm"),
    "no htu": (lambda: proof(htu=None), "htu"),
    "no iat": (lambda: proof(iat=None), "iat"),
    "iat a string": (lambda: proof(iat=str(NOW)), "iat"),
    "iat a boolean": (lambda: proof(iat=True), "iat"),
    "wrong htm": (lambda: proof(htm="POST"), "htm"),
    "lower-case htm": (lambda: proof(htm="get"), "htm"),
    "wrong htu path": (lambda: proof(htu="https://api.example.com/orders/1"), "htu"),
    "wrong htu host": (lambda: proof(htu="https://evil.example.com/orders"), "htu"),
    "wrong htu scheme": (lambda: proof(htu="http://api.example.com/orders"), "htu"),
    "wrong htu port": (lambda: proof(htu="https://api.example.com:8443/orders"), "htu"),
    "relative htu": (lambda: proof(htu="/orders"), "htu"),
    "htu with userinfo": (lambda: proof(htu="https://me@api.example.com/orders"), "htu"),
    "stale iat": (lambda: proof(iat=NOW - 61), "too old"),
    "future iat": (lambda: proof(iat=NOW + 6), "future"),
    "ath mismatch": (lambda: proof(ath=access_token_hash("another token")), "ath"),
    "no ath with a token": (lambda: proof(ath=None), "ath"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_rfc9449_4_3_each_refusal_is_invalid_dpop_proof(case: str) -> None:
    make, reason = REFUSALS[case]
    error = refused(make())
    assert error.error == INVALID_DPOP_PROOF
    assert reason in error.description
    assert error.nonce is None


def test_rfc9449_4_3_11_iat_window_edges_are_configurable() -> None:
    check(proof(iat=NOW - 60))
    check(proof(iat=NOW + 5))
    check(proof(iat=NOW - 100), max_age=120)
    assert "future" in refused(proof(iat=NOW + 1), max_skew=0).description


def test_rfc9449_4_3_9_htu_is_compared_after_normalisation() -> None:
    equivalent = "HTTPS://API.Example.COM:443/./orders?page=2#top"
    assert check(proof(htu=equivalent)).htu == equivalent
    check(proof(), url="https://api.example.com:443/orders?page=3")


def test_without_an_access_token_ath_is_not_required() -> None:
    """At the token endpoint there is no access token yet (RFC 9449 §5)."""
    assert check(proof(ath=None), access_token=None).ath is None


def test_the_allow_list_refuses_none_hmac_and_nothing() -> None:
    for algorithms in (["none"], ["HS256"], ["ES256", "HS512"], [], ["RS512"]):
        with pytest.raises(ValueError):
            DPoPVerifier(algorithms=algorithms)
    narrow = verifier(algorithms=["PS256"])
    assert narrow.algs == "PS256"
    with pytest.raises(DPoPError, match="alg"):
        narrow.check(proof(), method="GET", url=URL, access_token=TOKEN)


def test_a_header_is_checked_once_and_reused() -> None:
    """One client, one key, one header: the jwk is parsed and thumbprinted once."""
    checker = verifier()
    first = checker.check(proof(jti="a"), method="GET", url=URL, access_token=TOKEN)
    assert len(checker._keys) == 1
    second = checker.check(proof(jti="b"), method="GET", url=URL, access_token=TOKEN)
    assert len(checker._keys) == 1 and first.jkt == second.jkt
    with pytest.raises(DPoPError, match="signature"):
        checker.check(_other_key_in_header(), method="GET", url=URL, access_token=TOKEN)


# -- one DPoP header ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([], "required"),
        ([""], "required"),
        (["a.b.c", "d.e.f"], "more than one"),
        (["a, b"], "more than one"),
    ],
)
def test_rfc9449_4_3_1_exactly_one_dpop_header(values: list[str], reason: str) -> None:
    with pytest.raises(DPoPError, match=reason) as caught:
        one_proof(values)
    assert caught.value.error == INVALID_DPOP_PROOF
    assert one_proof([" a.b.c "]) == "a.b.c"


# -- replay (RFC 9449 §11.1) ----------------------------------------------------------------


def test_rfc9449_11_1_a_replayed_proof_is_refused() -> None:
    checker = verifier()

    async def go() -> None:
        value = proof(jti="once")
        await checker.verify(value, method="GET", url=URL, access_token=TOKEN)
        with pytest.raises(DPoPError, match="used before") as caught:
            await checker.verify(value, method="GET", url=URL, access_token=TOKEN)
        assert caught.value.error == INVALID_DPOP_PROOF
        # The jti is the key's: another key may use the same string.
        other = ECKey.generate_key("P-256")
        header = {**HEADER, "jwk": other.as_dict(private=False)}
        await checker.verify(
            sign(header, claims(jti="once"), other), method="GET", url=URL, access_token=TOKEN
        )

    asyncio.run(go())


def test_rfc9449_11_1_a_refused_proof_uses_up_no_jti() -> None:
    checker = verifier()

    async def go() -> None:
        with pytest.raises(DPoPError, match="htm"):
            await checker.verify(
                proof(jti="j", htm="POST"), method="GET", url=URL, access_token=TOKEN
            )
        await checker.verify(proof(jti="j"), method="GET", url=URL, access_token=TOKEN)

    asyncio.run(go())


def test_memory_replay_guard_is_bounded_in_time_and_size() -> None:
    now = {"t": 100.0}
    guard = MemoryReplayGuard(2, clock=lambda: now["t"])

    async def go() -> None:
        assert await guard.first_use("k", "a", 160)
        assert not await guard.first_use("k", "a", 160)
        assert await guard.first_use("k", "b", 170)
        assert await guard.first_use("k", "c", 180)  # the bound pushes out "a", still live
        assert (len(guard), guard.evicted_live) == (2, 1)
        now["t"] = 175  # "b" has expired: it may come again, and it is no replay
        assert await guard.first_use("k", "b", 235)
        assert guard.evicted_live == 1

    asyncio.run(go())
    with pytest.raises(ValueError):
        MemoryReplayGuard(0)


def test_replay_key_is_a_fixed_size_digest_scoped_to_the_key() -> None:
    assert len(replay_key("k1", "j" * 256)) == 32
    assert replay_key("k1", "j") != replay_key("k2", "j")
    assert replay_key("k1", "j:k2") != replay_key("k1:j", "k2")


# -- server nonces (RFC 9449 §9) -------------------------------------------------------------


def test_rfc9449_9_nonce_required_missing_and_mismatched() -> None:
    now = {"t": float(NOW)}
    nonces = TimedNonces(b"s" * 32, lifetime=300, clock=lambda: now["t"])
    checker = DPoPVerifier(nonces=nonces, clock=lambda: now["t"])

    def run(value: str) -> DPoPProof:
        return checker.check(value, method="GET", url=URL, access_token=TOKEN)

    with pytest.raises(DPoPError) as missing:
        run(proof())
    assert (missing.value.error, missing.value.nonce) == (USE_DPOP_NONCE, nonces.current())
    with pytest.raises(DPoPError) as wrong:
        run(proof(nonce="not-ours"))
    assert (wrong.value.error, wrong.value.nonce) == (USE_DPOP_NONCE, nonces.current())
    issued = nonces.current()
    accepted = run(proof(nonce=issued))
    assert (accepted.nonce, accepted.next_nonce) == (issued, None)
    # One step later the nonce still passes, and the client is handed the new one.
    now["t"] += 300
    later = run(proof(nonce=issued, iat=now["t"]))
    assert later.next_nonce == nonces.current() != issued
    now["t"] += 300
    with pytest.raises(DPoPError) as stale:
        run(proof(nonce=issued, iat=now["t"]))
    assert stale.value.error == USE_DPOP_NONCE


def test_timed_nonces_are_shared_by_secret_and_unforgeable() -> None:
    clock = lambda: float(NOW)  # noqa: E731
    one, same = TimedNonces(b"a" * 32, clock=clock), TimedNonces(b"a" * 32, clock=clock)
    other = TimedNonces(b"b" * 32, clock=clock)
    assert one.current() == same.current() != other.current()
    assert same.accepts(one.current()) and not other.accepts(one.current())
    raw = bytearray(base64.urlsafe_b64decode(one.current()))
    raw[-1] ^= 1
    assert not one.accepts(base64.urlsafe_b64encode(bytes(raw)).decode())
    assert not one.accepts("") and not one.accepts("é" * 32)
    with pytest.raises(ValueError):
        TimedNonces(b"short")
